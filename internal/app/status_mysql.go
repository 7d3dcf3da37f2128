package app

import (
	"context"
	"fmt"
	"path"
	"strconv"
	"strings"

	mycapture "github.com/sluicecdc/sluice/capture/mysql"
	"github.com/sluicecdc/sluice/internal/config"
)

func init() { sourceStatusers[config.SourceMySQL] = mysqlStatus{} }

// BinlogReport is the state of a MySQL/MariaDB server's binary log as
// `sluice status` sees it (StatusReport.Binlog).
type BinlogReport struct {
	// OldestFile is the oldest binlog file the server still has: a
	// checkpoint in an older file cannot be resumed.
	OldestFile string `json:"oldest_file"`
	// NewestFile is the file the server writes now.
	NewestFile string `json:"newest_file"`
	// Files is the number of binlog files; TotalBytes their size.
	Files      int    `json:"files"`
	TotalBytes uint64 `json:"total_bytes"`
	// LagFiles is how many binlog files the server's position is past the
	// checkpoint's file (0: the same file, where lag_bytes is exact);
	// null without a checkpoint.
	LagFiles *int `json:"lag_files"`
	// CheckpointAvailable is false when the checkpoint's binlog file was
	// purged (the next run refuses to resume); null without a checkpoint.
	CheckpointAvailable *bool `json:"checkpoint_available"`
}

func (b *BinlogReport) writeText(row func(k, v string)) {
	row("binlog", fmt.Sprintf("%d file(s), %s, oldest %s, newest %s", b.Files, humanBytes(int64(b.TotalBytes)), b.OldestFile, b.NewestFile))
	if b.LagFiles != nil && *b.LagFiles > 0 {
		row("  lag", fmt.Sprintf("%d binlog file(s)", *b.LagFiles))
	}
	if b.CheckpointAvailable != nil && !*b.CheckpointAvailable {
		row("  checkpoint", "its binlog file was PURGED: the next run refuses to resume")
	}
}

type mysqlStatus struct{}

func (mysqlStatus) SourceStatus(ctx context.Context, cfg *config.Config, st *StatusReport) {
	conn, err := mysqlConnConfig(cfg)
	if err != nil {
		st.addErr(err)
		return
	}
	cctx, cancel := context.WithTimeout(ctx, CheckTimeout)
	defer cancel()
	db, err := mycapture.OpenDB(cctx, conn)
	if err != nil {
		st.addErr(err)
		return
	}
	defer db.Close()
	srv, err := mycapture.Inspect(cctx, db)
	if err != nil {
		st.addErr(err)
		return
	}
	st.SourceServerID = srv.Identity()
	head, err := mycapture.HeadPosition(cctx, db, srv)
	if err != nil {
		st.addErr(err)
	} else {
		st.SourcePosition = &head
	}
	logs, err := mycapture.BinaryLogs(cctx, db)
	if err != nil {
		st.addErr(err)
	} else if len(logs) > 0 {
		b := &BinlogReport{OldestFile: logs[0].Name, NewestFile: logs[len(logs)-1].Name, Files: len(logs)}
		for _, l := range logs {
			b.TotalBytes += l.Size
		}
		st.Binlog = b
	}
	cp := st.CheckpointPosition
	if cp == nil || cp.File == "" || st.SourcePosition == nil {
		return
	}
	if cp.File == head.File {
		// The checkpoint can only be ahead on another server
		// (checkpoint_server_id tells); report no lag rather than a
		// negative one.
		lag := max(int64(head.Pos)-int64(cp.Pos), 0)
		st.LagBytes = &lag
	}
	if st.Binlog != nil {
		files := binlogDistance(logs, cp.File, head.File)
		st.Binlog.LagFiles = &files
		avail := false
		for _, l := range logs {
			if l.Name == cp.File {
				avail = true
			}
		}
		st.Binlog.CheckpointAvailable = &avail
	}
}

// binlogDistance counts binlog files from the checkpoint's to the head's,
// by position in SHOW BINARY LOGS, or by the files' sequence numbers when
// the checkpoint's file is no longer listed.
func binlogDistance(logs []mycapture.BinaryLog, from, to string) int {
	fi, ti := -1, -1
	for i, l := range logs {
		if l.Name == from {
			fi = i
		}
		if l.Name == to {
			ti = i
		}
	}
	if fi >= 0 && ti >= 0 {
		return max(ti-fi, 0)
	}
	seq := func(name string) int {
		n, _ := strconv.Atoi(strings.TrimLeft(path.Ext(name), "."))
		return n
	}
	return max(seq(to)-seq(from), 0)
}
