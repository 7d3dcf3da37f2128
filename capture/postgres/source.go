package postgres

import (
	"context"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/jackc/pglogrepl"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgproto3"

	"github.com/sluicecdc/sluice/capture"
	"github.com/sluicecdc/sluice/checkpoint"
)

// Source streams committed changes from a pgoutput replication slot.
//
// Positions: a checkpoint holds the end LSN of the last delivered
// transaction; streaming resumes there and the server sends only
// transactions committing at or after it. The slot's flushed LSN is sent
// to the server only from Ack, i.e. after the checkpoint is durable, so
// the slot never lets Postgres recycle WAL Sluice has not delivered.
type Source struct {
	cfg   Config
	pgcfg *pgconn.Config
	log   *slog.Logger
	repl  *pgconn.PgConn
	sql   *pgx.Conn
	cat   *catalog
	plan  *Plan
	// version is server_version_num.
	version int

	// decoder turns the stream's messages into events; its catalog
	// lookups go through cat.
	decoder

	acked atomic.Uint64 // highest LSN acknowledged by the pipeline
	// replicating is set once START_REPLICATION succeeded: the connection
	// is in COPY mode and takes status updates.
	replicating   bool
	lastHeartbeat time.Time
	hbWarned      bool
	stopping      atomic.Bool
	retained      atomic.Int64
}

// Stop asks Run to return nil at the next transaction boundary (at once
// when idle), so the caller can checkpoint a complete transaction.
func (s *Source) Stop() { s.stopping.Store(true) }

var _ capture.Source = (*Source)(nil)

// Ack records that everything up to pos is checkpointed. The position is
// reported to the server with the next status update.
func (s *Source) Ack(pos checkpoint.Position) {
	for {
		cur := s.acked.Load()
		if uint64(pos.LSN) <= cur || s.acked.CompareAndSwap(cur, uint64(pos.LSN)) {
			return
		}
	}
}

// RetainedWAL returns the WAL the slot held back at the last status
// update (current WAL position - restart_lsn), in bytes.
func (s *Source) RetainedWAL() int64 { return s.retained.Load() }

func (s *Source) refreshRetained(ctx context.Context) {
	qctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	var n int64
	if err := s.sql.QueryRow(qctx, `SELECT COALESCE((pg_current_wal_lsn() - restart_lsn)::bigint, 0) FROM pg_replication_slots WHERE slot_name = $1`, s.cfg.Slot).Scan(&n); err == nil {
		s.retained.Store(n)
	}
}

// Close releases the connections.
func (s *Source) Close() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if s.repl != nil {
		if s.replicating {
			// Tell the slot what is checkpointed before letting go of it,
			// so Postgres can release that WAL now and the next start does
			// not receive it again.
			_ = s.sendStatus(ctx, false)
		}
		_ = s.repl.Close(ctx)
	}
	if s.sql != nil {
		_ = s.sql.Close(ctx)
	}
}

func (s *Source) sendStatus(ctx context.Context, reply bool) error {
	flushed := pglogrepl.LSN(s.acked.Load())
	if flushed == 0 {
		flushed = pglogrepl.LSN(s.startLSN)
	}
	err := pglogrepl.SendStandbyStatusUpdate(ctx, s.repl, pglogrepl.StandbyStatusUpdate{
		WALWritePosition: flushed, WALFlushPosition: flushed, WALApplyPosition: flushed,
		ReplyRequested: reply,
	})
	if err != nil {
		return fmt.Errorf("postgres: sending status update: %w", err)
	}
	return nil
}

// Run starts replication at the planned LSN and streams until ctx ends.
func (s *Source) Run(ctx context.Context, h capture.Handler) error {
	err := pglogrepl.StartReplication(ctx, s.repl, s.cfg.Slot, pglogrepl.LSN(s.startLSN), pglogrepl.StartReplicationOptions{
		PluginArgs: []string{
			"proto_version '1'",
			"publication_names '" + escapeLiteral(s.cfg.Publication) + "'",
			"messages 'true'",
		},
	})
	if err != nil {
		return fmt.Errorf("postgres: START_REPLICATION slot %s at %s: %w", s.cfg.Slot, s.startLSN, err)
	}
	s.replicating = true
	s.log.Info("streaming", "slot", s.cfg.Slot, "from", s.startLSN.String())
	hb := s.cfg.HeartbeatInterval
	nextStatus := time.Now().Add(s.cfg.StatusInterval)
	s.lastHeartbeat = time.Now()
	// The loop waits for a message with the connection's read deadline,
	// not a context: pgconn watches a receive's context, which costs a
	// channel and a cancellation callback per message (2-3% of a drain's
	// CPU even with one context per quiet period). The deadline is set
	// once per period, and ctx's end sets it in the past, so a blocked
	// read returns and the loop sees ctx.Err().
	conn := s.repl.Conn()
	stopWatch := context.AfterFunc(ctx, func() { _ = conn.SetReadDeadline(time.Unix(1, 0)) })
	defer func() {
		stopWatch()
		_ = conn.SetReadDeadline(time.Time{})
	}()
	var period time.Time // the end of the current wait period (the read deadline)
	got := 0             // messages received in it
	for {
		if s.stopping.Load() && !s.inTxn {
			return nil
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		now := time.Now()
		if !now.Before(nextStatus) {
			// Ask for a keepalive: its WAL end lets an idle source
			// acknowledge WAL written to tables it does not capture.
			if err := s.sendStatus(ctx, hb > 0); err != nil {
				return err
			}
			nextStatus = now.Add(s.cfg.StatusInterval)
			s.refreshRetained(ctx)
		}
		deadline := nextStatus
		if hb > 0 && !s.inTxn {
			if now.Sub(s.lastHeartbeat) >= hb {
				s.heartbeat(ctx)
			}
			if d := s.lastHeartbeat.Add(hb); d.Before(deadline) {
				deadline = d
			}
		}
		// Wake after 20ms without a message, to notice Stop and to let the
		// pipeline commit promptly when the stream goes quiet; never pass
		// a deadline already due: ReceiveMessage would return at once
		// without reading, and the loop would spin.
		if d := now.Add(20 * time.Millisecond); d.Before(deadline) {
			deadline = d
		}
		if min := now.Add(5 * time.Millisecond); deadline.Before(min) {
			deadline = min
		}
		if !now.Before(period) {
			period, got = deadline, 0
			if err := conn.SetReadDeadline(deadline); err != nil {
				return fmt.Errorf("postgres: replication stream: %w", err)
			}
			if ctx.Err() != nil {
				return ctx.Err() // ended before the deadline was set
			}
		}
		msg, err := s.repl.ReceiveMessage(context.Background())
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			if pgconn.Timeout(err) {
				period = time.Time{} // over: the next wait sets a new one
				if got > 0 {
					continue // messages came during the period
				}
				if !s.inTxn && !s.skipTxn {
					// Quiet at a transaction boundary: let the pipeline
					// commit what it holds now rather than at the next
					// transaction.
					if err := h.Idle(ctx, checkpoint.Position{LSN: max(s.lastCommit, s.lastIdle)}); err != nil {
						return err
					}
				}
				continue
			}
			return fmt.Errorf("postgres: replication stream: %w", err)
		}
		got++
		switch m := msg.(type) {
		case *pgproto3.CopyData:
			if len(m.Data) == 0 {
				continue
			}
			switch m.Data[0] {
			case pglogrepl.PrimaryKeepaliveMessageByteID:
				ka, err := pglogrepl.ParsePrimaryKeepaliveMessage(m.Data[1:])
				if err != nil {
					return fmt.Errorf("postgres: keepalive: %w", err)
				}
				if ka.ReplyRequested {
					if err := s.sendStatus(ctx, false); err != nil {
						return err
					}
					nextStatus = time.Now().Add(s.cfg.StatusInterval)
				}
				if hb > 0 && !s.inTxn && checkpoint.LSN(ka.ServerWALEnd) > max(s.lastCommit, s.lastIdle) {
					// Caught up with nothing in flight: every transaction
					// committing before the WAL end has been received.
					s.lastIdle = checkpoint.LSN(ka.ServerWALEnd)
					if err := h.Idle(ctx, checkpoint.Position{LSN: s.lastIdle}); err != nil {
						return err
					}
				}
			case pglogrepl.XLogDataByteID:
				xld, err := pglogrepl.ParseXLogData(m.Data[1:])
				if err != nil {
					return fmt.Errorf("postgres: XLogData: %w", err)
				}
				if err := s.handle(ctx, h, xld); err != nil {
					return err
				}
			}
		case *pgproto3.ErrorResponse:
			return fmt.Errorf("postgres: replication stream: %w", pgconn.ErrorResponseToPgError(m))
		default:
			// Other messages (notices, parameter status) carry nothing we need.
		}
	}
}

func escapeLiteral(s string) string {
	out := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		if s[i] == '\'' {
			out = append(out, '\'')
		}
		out = append(out, s[i])
	}
	return string(out)
}

// heartbeat writes a non-transactional logical decoding message, so the
// stream carries a position even when only uncaptured tables change.
func (s *Source) heartbeat(ctx context.Context) {
	s.lastHeartbeat = time.Now()
	hctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	_, err := s.sql.Exec(hctx, "SELECT pg_logical_emit_message(false, 'sluice.heartbeat', '')")
	if err != nil && !s.hbWarned && ctx.Err() == nil {
		s.hbWarned = true
		s.log.Warn("heartbeat message failed; idle slots then rely on keepalives only. Fix: GRANT EXECUTE ON FUNCTION "+EmitMessageFunction(s.version)+" TO the Sluice user", "err", err)
	}
}
