package mysql

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/google/uuid"

	gomysql "github.com/go-mysql-org/go-mysql/mysql"
	"github.com/go-mysql-org/go-mysql/replication"

	"github.com/sluicecdc/sluice/capture"
	"github.com/sluicecdc/sluice/checkpoint"
	"github.com/sluicecdc/sluice/schema"
)

// Config configures a MySQL source.
type Config struct {
	Conn *ConnConfig
	// ServerID is the replica server_id of the binlog connection; unique
	// among the server's replicas.
	ServerID uint32
	// HeartbeatInterval is the binlog heartbeat period asked of the server
	// while no event flows; a connection silent for three periods is
	// considered dead and reopened. 0 disables both.
	HeartbeatInterval time.Duration
	// ReconnectTimeout bounds how long Run keeps reconnecting after the
	// binlog connection breaks before it returns the error. Default 5m.
	ReconnectTimeout time.Duration
	Filter           Filter
	Logger           *slog.Logger
	// SignalTable is source.mysql.signal_table ("<database>.<table>";
	// empty: DefaultSignalTable), where snapshot watermarks and requests
	// are written (signal.go).
	SignalTable string
}

// SnapshotMode values.
const (
	SnapshotInitial     = "initial"
	SnapshotNever       = "never"
	SnapshotInitialOnly = "initial_only"
)

// Plan says what the source will do: take a snapshot (then SetStart with
// the snapshot's position) or stream from Start.
type Plan struct {
	Snapshot bool
	Start    checkpoint.Position
	Tables   []schema.TableID
	Server   *Server
	// Added are the tables captured since the checkpoint was written, whose
	// snapshot is due (snapshot.mode not never).
	Added []schema.TableID
	// Checkpoint is the checkpoint resumed from: Open's cp, or after a
	// failover a copy whose position is the GTID set alone (failover.go).
	Checkpoint *checkpoint.Checkpoint
}

// Source streams committed row changes from the binary log.
//
// Positions: a checkpoint holds the binlog file and the end position of
// the last delivered transaction's final event (its XID, COMMIT or DDL
// query), plus the GTID set executed up to and including it. Streaming
// resumes there: from the GTID set when there is one (MariaDB always,
// MySQL with gtid_mode=ON), from file:pos otherwise. Handler.Commit is
// called only at those transaction boundaries [I1], so a restart never
// skips the rest of a transaction or of a multi-row event.
type Source struct {
	cfg      Config
	log      *slog.Logger
	db       *sql.DB
	srv      *Server
	colls    map[uint64]string
	signal   schema.TableID
	start    checkpoint.Position
	stopping atomic.Bool

	// Stream state, owned by Run's goroutine.
	file      string
	end       uint32              // where the last event read in file ends (0: not known)
	committed checkpoint.Position // the last transaction boundary passed to the handler
	maria     MariaGTIDSet        // executed GTIDs up to committed
	my        MySQLGTIDSet
	txn       txn
	tables    map[uint64]*mapped               // TABLE_MAP by table id
	versions  map[schema.TableID]*schema.Table // the last version delivered per table
	info      map[schema.TableID][]infoColumn  // information_schema, cleared by any DDL
	skip      int                              // changes of a replayed transaction already delivered
	skipGTID  string
	change    capture.Change
	lastEvent time.Time
	format    *replication.FormatDescriptionEvent // of the binlog being read
	payload   *replication.BinlogParser           // for compressed transactions, made from format
	inPayload bool                                // handling the events inside a Transaction_payload event
}

// txn is the transaction being read.
type txn struct {
	active    bool
	begun     bool // BEGIN seen, or a MariaDB GTID that is not standalone
	gtid      string
	nextMaria MariaGTIDSet
	nextMy    MySQLGTIDSet
	thread    int64
	delivered int // changes delivered to the handler
	start     checkpoint.Position
}

// mapped is a TABLE_MAP of the current statement.
type mapped struct {
	id       schema.TableID
	captured bool
	signal   bool // the signal table
	table    *schema.Table
	err      error // the table cannot be described; fatal once a row needs it
	// body is the TABLE_MAP event this was made from, without its header
	// and checksum (see sameMap); nil: not reusable.
	body []byte
}

var _ capture.Source = (*Source)(nil)

// Open connects, checks the server's settings and privileges, checks the
// checkpoint against the server's identity and binlog (purged, rewound),
// and decides whether a snapshot is due. cp is the stored checkpoint (nil
// when there is none). On success the caller must Close the source.
func Open(ctx context.Context, cfg Config, cp *checkpoint.Checkpoint, snapshotMode string) (_ *Source, _ *Plan, err error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.ReconnectTimeout <= 0 {
		cfg.ReconnectTimeout = 5 * time.Minute
	}
	s := newSource(cfg)
	defer func() {
		if err != nil {
			s.Close()
		}
	}()
	if s.db, err = OpenDB(ctx, cfg.Conn); err != nil {
		return nil, nil, err
	}
	if s.srv, err = Inspect(ctx, s.db); err != nil {
		return nil, nil, err
	}
	if problems := Preflight(ctx, s.db, s.srv, cfg.Conn.User, cfg.ServerID); len(problems) > 0 {
		for _, p := range problems[1:] {
			s.log.Error("mysql prerequisite not met", "err", p)
		}
		return nil, nil, problems[0]
	}
	plan := &Plan{Server: s.srv}
	if cp != nil && cp.ServerID != "" && cp.ServerID != s.srv.Identity() {
		// Another server: followed by GTID when it has every transaction of
		// the checkpoint (failover.go), else refused.
		executed, err := ExecutedGTIDs(ctx, s.db, s.srv)
		if err != nil {
			return nil, nil, err
		}
		pos, err := FailoverStart(cp.ServerID, cp.Position, s.srv, executed)
		if err != nil {
			return nil, nil, err
		}
		s.log.Warn("following a failover: the checkpoint belongs to another server; resuming by GTID on this one",
			"checkpoint_server", cp.ServerID, "server", s.srv.Identity(), "gtid", pos.GTIDSet, "old_position", cp.Position.String())
		c := *cp
		c.Position = pos
		cp = &c
	}
	plan.Checkpoint = cp
	if s.colls, err = Collations(ctx, s.db); err != nil {
		return nil, nil, err
	}
	if s.signal, err = ParseSignalTable(cfg.SignalTable); err != nil {
		return nil, nil, &SetupError{What: "source.mysql.signal_table", Err: err, Fix: "name a table as <database>.<table>"}
	}
	if snapshotMode != SnapshotNever {
		if err := EnsureSignalTable(ctx, s.db, s.signal, cfg.Conn.User); err != nil {
			return nil, nil, err
		}
	}
	var warnings []string
	if plan.Tables, warnings, err = ListTables(ctx, s.db, &cfg.Filter); err != nil {
		return nil, nil, err
	}
	for _, w := range warnings {
		s.log.Warn(w)
	}
	plan.Tables = slices.DeleteFunc(plan.Tables, func(id schema.TableID) bool { return id == s.signal })
	if len(plan.Tables) == 0 {
		return nil, nil, &SetupError{What: "source.tables", Err: errors.New("no table matches"),
			Fix: "check the table names (case-sensitive, <database>.<table>) and that the user can see them (SELECT privilege)"}
	}
	switch {
	case snapshotMode != SnapshotNever && (cp == nil || !cp.SnapshotDone):
		plan.Snapshot = true
	case cp != nil:
		if err := ValidateStart(ctx, s.db, s.srv, cp.Position); err != nil {
			return nil, nil, err
		}
		plan.Start = cp.Position
		if snapshotMode != SnapshotNever {
			plan.Added = newlyCaptured(cp, plan.Tables)
		}
	default: // snapshot never, no checkpoint: from the server's current position
		if plan.Start, err = HeadPosition(ctx, s.db, s.srv); err != nil {
			return nil, nil, err
		}
	}
	if !plan.Snapshot {
		if err := s.SetStart(plan.Start); err != nil {
			return nil, nil, err
		}
	}
	return s, plan, nil
}

// newlyCaptured returns the planned tables that cp does not list as
// captured and whose snapshot is not under way in cp. A checkpoint that
// lists no tables (written before checkpoints listed them) adds none.
func newlyCaptured(cp *checkpoint.Checkpoint, tables []schema.TableID) []schema.TableID {
	if cp.Tables == nil {
		return nil
	}
	had := map[string]bool{}
	for _, t := range cp.Tables {
		had[t] = true
	}
	if cp.Snapshot != nil {
		for _, t := range cp.Snapshot.Tables {
			had[schema.TableID{Namespace: t.Namespace, Name: t.Name}.String()] = true
		}
	}
	var out []schema.TableID
	for _, id := range tables {
		if !had[id.String()] {
			out = append(out, id)
		}
	}
	return out
}

// newSource returns a source with empty stream state; Open connects it and
// fills in what it learns of the server.
func newSource(cfg Config) *Source {
	return &Source{cfg: cfg, log: cfg.Logger, tables: map[uint64]*mapped{},
		versions: map[schema.TableID]*schema.Table{}, info: map[schema.TableID][]infoColumn{}}
}

// SetStart sets where Run starts: after the transaction that ends at pos.
func (s *Source) SetStart(pos checkpoint.Position) error {
	s.start = pos
	s.committed = pos
	s.file = pos.File
	var err error
	if s.srv.Flavor == FlavorMariaDB {
		s.maria, err = ParseMariaGTIDSet(pos.GTIDSet)
	} else {
		s.my, err = ParseMySQLGTIDSet(pos.GTIDSet)
	}
	return err
}

// Seed tells the source the table versions a snapshot delivered, so that a
// TABLE_MAP describing the same version reuses it instead of recording a
// new one.
func (s *Source) Seed(tables []*schema.Table) {
	for _, t := range tables {
		s.versions[t.ID] = t
	}
}

// DB returns the source's SQL connection pool (for the snapshot).
func (s *Source) DB() *sql.DB { return s.db }

// Server returns what Open learned about the server.
func (s *Source) Server() *Server { return s.srv }

// Stop asks Run to return nil at the next transaction boundary (at once
// when idle), so the caller can checkpoint a complete transaction.
func (s *Source) Stop() { s.stopping.Store(true) }

// Ack is a no-op: a MySQL server keeps its binlogs by its own retention
// settings, not by what replicas acknowledge. It is never called with a
// position past the durable checkpoint [I3].
func (s *Source) Ack(checkpoint.Position) {}

// Close releases the SQL connections. Run closes its binlog connection
// itself.
func (s *Source) Close() {
	if s.db != nil {
		s.db.Close()
	}
}

// errStopped ends a stream at a transaction boundary after Stop.
var errStopped = errors.New("stopped")

// Run streams from the start position until ctx ends or Stop is called
// (then it returns nil at a transaction boundary). A broken binlog
// connection is reopened with backoff from the last transaction boundary;
// the changes of the interrupted transaction that were already delivered
// are skipped when the server sends it again, so nothing is delivered twice
// and nothing is skipped.
func (s *Source) Run(ctx context.Context, h capture.Handler) error {
	backoff := time.Second
	var failingSince time.Time
	for first := true; ; first = false {
		var err error
		if !first {
			err = s.sameServer(ctx)
		}
		if err == nil {
			err = s.stream(ctx, h)
		}
		switch {
		case errors.Is(err, errStopped):
			return nil
		case ctx.Err() != nil:
			return ctx.Err()
		case !retriable(err):
			return err
		}
		if failingSince.IsZero() || s.lastEvent.After(failingSince) {
			failingSince = time.Now()
			backoff = time.Second
		}
		if time.Since(failingSince) > s.cfg.ReconnectTimeout {
			return fmt.Errorf("mysql: binlog connection failed for more than %s: %w", s.cfg.ReconnectTimeout, err)
		}
		if s.txn.active {
			// Read the interrupted transaction again from its start, and
			// skip what was delivered of it: what this attempt delivered
			// (or skipped) plus what it still had to skip, if the
			// connection broke during a replay.
			s.skip, s.skipGTID = s.txn.delivered+s.skip, s.txn.gtid
			s.txn = txn{}
		}
		s.log.Warn("binlog connection lost; reconnecting from the last transaction boundary",
			"err", err, "position", s.committed.String(), "after", backoff, "replay_skip", s.skip)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(backoff):
		}
		if s.stopping.Load() {
			// A stop during the backoff returns without waiting for the
			// server: when a transaction was interrupted, part of it is
			// delivered and its end is not, so the caller must not commit
			// what it holds of it (Handler contract: no Commit, no Idle
			// while a transaction is in flight).
			return nil
		}
		backoff = min(backoff*2, 30*time.Second)
	}
}

// errOtherServer reports that source.dsn reaches another server than the
// one Open checked the checkpoint against.
var errOtherServer = errors.New("mysql: source.dsn reaches another server")

// sameServer checks, before a reconnect, that source.dsn still reaches the
// server Open inspected. After a failover behind the same address the
// position held means nothing on the new server (a file:position) or must
// first be checked against it (a GTID set), so Run returns and the
// pipeline restarts, where Open decides whether to follow (failover.go).
// An unreachable server is a connection error, retried.
func (s *Source) sameServer(ctx context.Context) error {
	cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	srv, err := Inspect(cctx, s.db)
	if err != nil {
		return fmt.Errorf("%w: %v", errConnection, err)
	}
	if srv.Identity() != s.srv.Identity() {
		return fmt.Errorf("%w: %s, not %s (a failover?); restarting to check the checkpoint against it", errOtherServer, srv.Identity(), s.srv.Identity())
	}
	return nil
}

// retriable reports whether a stream error is a broken connection (retry)
// rather than a refusal by the server or an event Sluice cannot handle.
func retriable(err error) bool {
	var me *gomysql.MyError
	if errors.As(err, &me) {
		switch me.Code {
		case erServerShutdown, erConCount, erQueryInterrupted, erConnectionKilled,
			erNetReadError, erNetReadInterrupted, erNetErrorOnWrite, erNetWriteInterrupted:
			return true
		}
		return false
	}
	var se *SetupError
	if errors.As(err, &se) {
		return se.Transient
	}
	var ee *replication.EventError
	if errors.As(err, &ee) {
		return false
	}
	return errors.Is(err, errConnection)
}

// errConnection marks errors of the binlog connection itself.
var errConnection = errors.New("binlog connection")

func (s *Source) syncerConfig() replication.BinlogSyncerConfig {
	c := replication.BinlogSyncerConfig{
		ServerID: s.cfg.ServerID, Flavor: s.srv.Flavor,
		Host: s.cfg.Conn.Host, Port: s.cfg.Conn.Port, User: s.cfg.Conn.User, Password: s.cfg.Conn.Password,
		Charset:   "utf8mb4",
		TLSConfig: s.cfg.Conn.TLS,
		// Values as schema.MySQLColumnType expects them: temporal types as
		// text, TIMESTAMP in UTC, DECIMAL as text, MySQL JSON as the text
		// rowsDecoder renders (newParser repeats these settings).
		ParseTime: false, TimestampStringLocation: time.UTC, UseDecimal: false, UseFloatWithTrailingZero: true,
		RowsEventDecodeFunc: (&rowsDecoder{}).decode,

		HeartbeatPeriod:  s.cfg.HeartbeatInterval,
		DisableRetrySync: true, // Run reconnects, from a transaction boundary
		VerifyChecksum:   true,
		EventCacheCount:  128,
		Logger:           slog.New(quietHandler{s.log.Handler()}),
		Localhost:        "sluice",
	}
	if s.cfg.HeartbeatInterval > 0 {
		c.ReadTimeout = max(3*s.cfg.HeartbeatInterval, 30*time.Second)
	}
	if s.srv.Flavor == FlavorMariaDB {
		// MariaDB 11.4+ zeroes the log position of the events that follow
		// an annotate event it does not send; asking for the annotate
		// events keeps every position real.
		c.DumpCommandFlag = replication.BINLOG_SEND_ANNOTATE_ROWS_EVENT
	}
	return c
}

// newParser returns a parser that decodes events as the binlog connection
// does: for the events of a stream whose connection runs in raw mode, of
// compressed transactions, and for tests.
func (s *Source) newParser() *replication.BinlogParser {
	c := s.syncerConfig()
	p := replication.NewBinlogParser()
	p.SetFlavor(c.Flavor)
	p.SetParseTime(c.ParseTime)
	p.SetTimestampStringLocation(c.TimestampStringLocation)
	p.SetUseDecimal(c.UseDecimal)
	p.SetUseFloatWithTrailingZero(c.UseFloatWithTrailingZero)
	p.SetVerifyChecksum(c.VerifyChecksum)
	p.SetRowsEventDecodeFunc(c.RowsEventDecodeFunc)
	return p
}

// stream opens one binlog connection from s.committed and handles events
// until an error (errStopped after Stop).
func (s *Source) stream(ctx context.Context, h capture.Handler) error {
	cfg := s.syncerConfig()
	start := s.committed
	by := "gtid"
	var (
		gset gomysql.GTIDSet
		err  error
	)
	switch {
	case start.GTIDSet != "" && s.srv.Flavor == FlavorMariaDB:
		gset, err = gomysql.ParseMariadbGTIDSet(start.GTIDSet)
	case start.GTIDSet != "" && s.srv.GTID:
		// Sluice's own set, which sends tagged GTIDs too (gtid_wire.go).
		// go-mysql's syncer asserts its own set type on every untagged
		// GTID event of a stream started by GTID, so the syncer runs in
		// raw mode (it decodes only rotate and format description events)
		// and the events are decoded here, with the same settings.
		var my MySQLGTIDSet
		if my, err = ParseMySQLGTIDSet(start.GTIDSet); err == nil {
			gset, err = newDumpSet(my)
		}
		cfg.RawModeEnabled, cfg.VerifyChecksum = true, false // checked by parser below
	default:
		by = "file:position"
	}
	if err != nil {
		return fmt.Errorf("mysql: GTID set %q to stream from: %w", start.GTIDSet, err)
	}
	syncer := replication.NewBinlogSyncer(cfg)
	defer syncer.Close()
	var st *replication.BinlogStreamer
	if gset != nil {
		st, err = syncer.StartSyncGTID(gset)
	} else {
		st, err = syncer.StartSync(gomysql.Position{Name: start.File, Pos: start.Pos})
	}
	if err != nil {
		return s.streamError(err)
	}
	var parser *replication.BinlogParser // raw mode: decodes the events
	if cfg.RawModeEnabled {
		parser = s.newParser()
	}
	s.log.Info("streaming", "flavor", s.srv.Flavor, "from", start.String(), "by", by, "server_id", s.cfg.ServerID)
	s.tables = map[uint64]*mapped{}
	var hb time.Time
	var wake capture.Wake
	defer wake.Stop()
	for {
		if s.stopping.Load() && !s.inFlight() {
			return errStopped
		}
		ev, err := st.GetEvent(wake.Context(ctx, time.Now().Add(250*time.Millisecond)))
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			if errors.Is(err, context.DeadlineExceeded) {
				if !wake.Quiet() {
					continue // events came during the period
				}
				if s.cfg.HeartbeatInterval > 0 && time.Since(hb) >= s.cfg.HeartbeatInterval {
					hb = time.Now()
					if err := s.idle(ctx, h); err != nil {
						return err
					}
				}
				continue
			}
			return s.streamError(err)
		}
		wake.Received()
		s.lastEvent = time.Now()
		if parser != nil {
			if ev, err = parser.Parse(ev.RawData); err != nil {
				return s.streamError(err)
			}
		}
		if err := s.handle(ctx, h, ev); err != nil {
			return err
		}
		if _, ok := ev.Event.(*replication.GenericEvent); ok && isHeartbeat(ev.Header.EventType) {
			hb = time.Now()
			if err := s.idle(ctx, h); err != nil {
				return err
			}
		}
	}
}

// inFlight reports whether part of a transaction may have been delivered
// without its end: a transaction is open, or one interrupted by a lost
// connection is still to be read again (s.skip > 0). Neither Idle nor a
// graceful stop may then treat the last boundary as "nothing in flight":
// the pipeline would commit the delivered part of the transaction under a
// checkpoint placed before it [I1].
func (s *Source) inFlight() bool { return s.txn.active || s.skip > 0 }

// idle reports the last boundary to h when nothing is in flight (a quiet
// stream or a binlog heartbeat).
func (s *Source) idle(ctx context.Context, h capture.Handler) error {
	if s.inFlight() {
		return nil
	}
	return h.Idle(ctx, s.committed)
}

func isHeartbeat(t replication.EventType) bool {
	return t == replication.HEARTBEAT_EVENT || t == replication.HEARTBEAT_LOG_EVENT_V2
}

// streamError classifies an error of the binlog connection.
func (s *Source) streamError(err error) error {
	var me *gomysql.MyError
	if errors.As(err, &me) {
		msg := strings.ToLower(me.Message)
		switch {
		case me.Code == erMasterFatalReading && (strings.Contains(msg, "purged") || strings.Contains(msg, "could not find") ||
			strings.Contains(msg, "first log file name") || strings.Contains(msg, "not find gtid")):
			return &SetupError{What: "binlog position " + s.committed.String(),
				Err: fmt.Errorf("the server cannot stream from the checkpoint (binlogs purged or reset): %w", err), Fix: purgedFix}
		case me.Code == erSlaveSameID ||
			me.Code == erMasterFatalReading && (strings.Contains(msg, "same server_uuid/server_id") || strings.Contains(msg, "same server id")):
			// The server dropped this binlog connection for a newer one
			// with the same server_id (MySQL: 1236, MariaDB: 4052).
			// Reconnecting would drop that one in turn, forever.
			return &SetupError{What: "source.mysql.server_id",
				Err: fmt.Errorf("another replica uses server_id %d (a second Sluice instance with this configuration, or a replica with the same server_id) and took over the binlog connection: %w", s.cfg.ServerID, err),
				Fix: "run one Sluice instance per name; give every replica of the server, Sluice included, a unique server_id (source.mysql.server_id)"}
		case me.Code == erSpecificAccess || me.Code == erAccessDenied:
			return &SetupError{What: "mysql binlog connection", Err: err,
				Fix: "GRANT REPLICATION SLAVE, REPLICATION CLIENT ON *.* to Sluice's user (MariaDB 10.5+: REPLICATION SLAVE, BINLOG MONITOR)"}
		}
		if retriable(err) {
			return fmt.Errorf("mysql: %w: %w", errConnection, err)
		}
		return fmt.Errorf("mysql: binlog stream: %w", err)
	}
	var ee *replication.EventError
	if errors.As(err, &ee) {
		return fmt.Errorf("mysql: decoding a binlog event after %s: %w", s.committed, err)
	}
	return fmt.Errorf("mysql: %w: %w", errConnection, err)
}

// endOf returns the position at the end of the event ev, with the GTID set
// including the current transaction.
func (s *Source) endOf(ev *replication.BinlogEvent) checkpoint.Position {
	p := checkpoint.Position{File: s.file, Pos: ev.Header.LogPos}
	if s.srv.Flavor == FlavorMariaDB {
		p.GTIDSet = s.txn.nextMaria.String()
	} else if s.srv.GTID {
		p.GTIDSet = s.txn.nextMy.String()
	}
	return p
}

func (s *Source) beginTxn() {
	s.txn = txn{active: true, start: s.committed}
	if s.srv.Flavor == FlavorMariaDB {
		s.txn.nextMaria = s.maria.Clone()
	} else {
		s.txn.nextMy = s.my.Clone()
	}
}

// place fills in the end position of an event that the server wrote
// without one, and keeps s.end. MariaDB 11 (binlog_legacy_event_pos=OFF,
// its default) writes end_log_pos 0 for the events inside an event group,
// between its GTID event and its commit, which have theirs; each such event
// ends its size after the previous one. Artificial events (a stream's
// first rotate) are in no file.
func (s *Source) place(ev *replication.BinlogEvent) {
	hd := ev.Header
	switch {
	case hd.LogPos != 0:
	case hd.Flags&replication.LOG_EVENT_ARTIFICIAL_F != 0 || s.end == 0:
		return
	default:
		hd.LogPos = s.end + hd.EventSize
	}
	s.end = hd.LogPos
}

func (s *Source) handle(ctx context.Context, h capture.Handler, ev *replication.BinlogEvent) error {
	if !s.inPayload {
		s.place(ev)
	}
	switch e := ev.Event.(type) {
	case *replication.RotateEvent:
		s.file = string(e.NextLogName)
		s.end = 0 // known again at the next file's first event
		// A real rotate (not the artificial one opening a stream) ends a
		// file between transactions: the next file's start is a boundary.
		if ev.Header.Flags&replication.LOG_EVENT_ARTIFICIAL_F == 0 && ev.Header.LogPos != 0 && !s.txn.active {
			s.committed = checkpoint.Position{File: s.file, Pos: uint32(e.Position), GTIDSet: s.committed.GTIDSet}
		}
	case *replication.MariadbGTIDEvent:
		if s.txn.active {
			return fmt.Errorf("mysql: GTID %s at %s:%d inside transaction %s (protocol violation)", e.GTID.String(), s.file, ev.Header.LogPos, s.txn.gtid)
		}
		s.beginTxn()
		g := MariaGTID{Domain: e.GTID.DomainID, ServerID: e.GTID.ServerID, Seq: e.GTID.SequenceNumber}
		s.txn.gtid = g.String()
		s.txn.nextMaria.Add(g)
		s.txn.begun = !e.IsStandalone()
		return s.checkReplay()
	case *replication.GTIDEvent:
		return s.mysqlGTID(ev, e)
	case *replication.GtidTaggedLogEvent: // MySQL 8.3+: uuid:tag:n
		return s.mysqlGTID(ev, &e.GTIDEvent)
	case *replication.FormatDescriptionEvent:
		s.format, s.payload = e, nil
	case *replication.QueryEvent:
		return s.query(ctx, h, ev, e)
	case *replication.XIDEvent:
		if !s.txn.active {
			return fmt.Errorf("mysql: XID event at %s:%d outside a transaction (protocol violation)", s.file, ev.Header.LogPos)
		}
		return s.commit(ctx, h, ev)
	case *replication.TableMapEvent:
		return s.tableMap(ctx, h, ev, e)
	case *replication.RowsEvent:
		return s.rows(ctx, h, ev, e)
	case *replication.TransactionPayloadEvent:
		// MySQL binlog_transaction_compression: the transaction's events,
		// decompressed, in order. go-mysql decodes them with default
		// settings (TIMESTAMP in local time, its own JSON decoding), so
		// they are decoded again as the stream's events are.
		if s.payload == nil {
			if s.format == nil {
				return fmt.Errorf("mysql: compressed transaction at %s:%d before any format description event", s.file, ev.Header.LogPos)
			}
			s.payload = s.newParser()
			s.payload.SetVerifyChecksum(false)
			if _, err := s.payload.Parse(uncheckedFormat(s.format)); err != nil {
				return fmt.Errorf("mysql: format description for compressed transactions: %w", err)
			}
		}
		s.inPayload = true
		defer func() { s.inPayload = false }()
		for _, inner := range e.Events {
			again, err := s.payload.Parse(inner.RawData)
			if err != nil {
				return fmt.Errorf("mysql: decoding a compressed transaction's event at %s:%d: %w", s.file, ev.Header.LogPos, err)
			}
			// The events inside have no position of their own (0): each
			// is at its payload event's, which ends the transaction.
			again.Header.LogPos, again.Header.EventSize = ev.Header.LogPos, ev.Header.EventSize
			if err := s.handle(ctx, h, again); err != nil {
				return err
			}
		}
	case *replication.GenericEvent:
		if ev.Header.EventType == replication.XA_PREPARE_LOG_EVENT {
			return s.xaError(ev, "XA PREPARE")
		}
	}
	return nil
}

// mysqlGTID starts the transaction of a MySQL GTID event (tagged or not).
func (s *Source) mysqlGTID(ev *replication.BinlogEvent, e *replication.GTIDEvent) error {
	if s.txn.active {
		return fmt.Errorf("mysql: GTID at %s:%d inside a transaction (protocol violation)", s.file, ev.Header.LogPos)
	}
	s.beginTxn()
	if u, err := uuid.FromBytes(e.SID); err == nil && e.GNO > 0 {
		src := u.String()
		if e.Tag != "" {
			src += ":" + strings.ToLower(e.Tag)
		}
		s.txn.gtid = fmt.Sprintf("%s:%d", src, e.GNO)
		s.txn.nextMy.Add(src, uint64(e.GNO))
	}
	return s.checkReplay()
}

// uncheckedFormat returns a FORMAT_DESCRIPTION event like f but for events
// without checksums, as those inside a Transaction_payload event are.
func uncheckedFormat(f *replication.FormatDescriptionEvent) []byte {
	var version [50]byte
	copy(version[:], f.ServerVersion)
	b := make([]byte, replication.EventHeaderSize, 128)
	b[4] = byte(replication.FORMAT_DESCRIPTION_EVENT)
	b = binary.LittleEndian.AppendUint16(b, f.Version)
	b = append(b, version[:]...)
	b = binary.LittleEndian.AppendUint32(b, f.CreateTimestamp)
	b = append(b, f.EventHeaderLength)
	b = append(b, f.EventTypeHeaderLengths...)
	b = append(b, replication.BINLOG_CHECKSUM_ALG_OFF, 0, 0, 0, 0)
	binary.LittleEndian.PutUint32(b[9:], uint32(len(b)))
	return b
}

// checkReplay verifies, after a reconnect in the middle of a transaction,
// that the server sends that transaction again first.
func (s *Source) checkReplay() error {
	if s.skipGTID != "" && s.txn.gtid != s.skipGTID {
		return fmt.Errorf("mysql: after reconnecting, the server sent transaction %s, not the interrupted %s", s.txn.gtid, s.skipGTID)
	}
	s.skipGTID = ""
	return nil
}

func (s *Source) query(ctx context.Context, h capture.Handler, ev *replication.BinlogEvent, e *replication.QueryEvent) error {
	q := string(e.Query)
	switch classify(q) {
	case stmtBegin:
		if !s.txn.active {
			s.beginTxn()
		}
		s.txn.begun = true
		s.txn.thread = int64(e.SlaveProxyID)
		return nil
	case stmtCommit, stmtRollback:
		if !s.txn.active {
			return nil
		}
		return s.commit(ctx, h, ev)
	case stmtSavepoint:
		return nil
	case stmtXA:
		return s.xaError(ev, fmt.Sprintf("%.40s", q))
	}
	if !s.txn.active {
		s.beginTxn()
	}
	if classify(q) == stmtDDL {
		// A DDL statement, on its own or inside an event group (MySQL
		// 8.0.21+ logs CREATE TABLE ... SELECT as BEGIN, the CREATE, its
		// rows and COMMIT; MariaDB as a group that opens with the
		// CREATE). Any DDL may change what information_schema says. The
		// statements that create the signal table are Sluice's own, not
		// the application's: they make no schema-change event.
		clear(s.info)
		db := string(e.Schema)
		if !systemDatabases[strings.ToLower(db)] && !slices.Contains(SignalTableDDL(s.signal), q) {
			end := s.endOf(ev)
			if err := h.SchemaChange(ctx, &capture.SchemaChange{DDL: q, Database: db, Position: end,
				TsMs: int64(ev.Header.Timestamp) * 1000}); err != nil {
				return err
			}
		}
	}
	if s.txn.begun {
		// Inside BEGIN ... COMMIT: the statement changes no row (rows
		// come as row events) and ends nothing.
		return nil
	}
	// A statement outside BEGIN is a transaction of its own.
	return s.commit(ctx, h, ev)
}

// xaError reports an XA transaction in the binlog: Sluice cannot capture
// one (its rows are logged at XA PREPARE, its outcome later and apart), and
// the event stays in the binlog, so the error stops Sluice rather than
// restarting it into the same event.
func (s *Source) xaError(ev *replication.BinlogEvent, stmt string) error {
	return &capture.UnsupportedError{What: fmt.Sprintf("mysql binlog at %s:%d", s.file, ev.Header.LogPos),
		Err: fmt.Errorf("XA transaction (%s): XA transactions are not supported", stmt),
		Fix: "commit the application's transactions without XA; to go past this one, start a new instance (a new name) with a new snapshot"}
}

// commit ends the transaction at the end of ev [I1].
func (s *Source) commit(ctx context.Context, h capture.Handler, ev *replication.BinlogEvent) error {
	if s.skip > 0 {
		return fmt.Errorf("mysql: after reconnecting, transaction %s ended with %d fewer changes than were delivered before", s.txn.gtid, s.skip)
	}
	pos := s.endOf(ev)
	if pos.Pos == 0 || pos.File == "" {
		return fmt.Errorf("mysql: transaction %s ends at a binlog event without a position (%s:%d): cannot checkpoint it", s.txn.gtid, pos.File, pos.Pos)
	}
	if s.srv.Flavor == FlavorMariaDB {
		s.maria = s.txn.nextMaria
	} else {
		s.my = s.txn.nextMy
	}
	s.committed = pos
	s.txn = txn{}
	if err := h.Commit(ctx, pos); err != nil {
		return err
	}
	if s.stopping.Load() {
		return errStopped
	}
	return nil
}

func (s *Source) tableMap(ctx context.Context, h capture.Handler, ev *replication.BinlogEvent, e *replication.TableMapEvent) error {
	body := s.mapBody(ev)
	if prev := s.tables[e.TableID]; prev != nil && s.sameMap(prev, body) {
		return nil // the table version the same map made last time
	}
	id := schema.TableID{Namespace: string(e.Schema), Name: string(e.Table)}
	m := &mapped{id: id, captured: captured(&s.cfg.Filter, id)}
	s.tables[e.TableID] = m
	defer func() {
		if m.err == nil && m.table != nil && body != nil {
			m.body = bytes.Clone(body)
		}
	}()
	if id == s.signal {
		m.captured, m.signal = false, true
		return nil
	}
	if !m.captured {
		return nil
	}
	t, err := TableFromMap(e, s.colls)
	if err != nil {
		// Fatal when a row needs it: the event stays in the binlog, so a
		// restart would meet it again.
		m.err = &SetupError{What: fmt.Sprintf("mysql binlog at %s:%d", s.file, ev.Header.LogPos), Err: err,
			Fix: "SET GLOBAL binlog_row_metadata = 'FULL'; and put binlog_row_metadata=FULL under [mysqld] in my.cnf; " +
				"rows written without full metadata cannot be decoded with the schema of their time: start over with a new snapshot (a new name)"}
		return nil
	}
	if prev := s.versions[id]; prev != nil && prev.Equal(t) && !needsInfo(t) {
		m.table = prev
		return nil
	}
	if needsInfo(t) {
		info, ok := s.info[id]
		if !ok {
			if info, err = readColumns(ctx, s.db, id); err != nil {
				return err
			}
			s.info[id] = info
		}
		ApplyInfo(t, info)
	}
	if prev := s.versions[id]; prev != nil && prev.Equal(t) {
		m.table = prev
		return nil
	}
	m.table = t
	s.versions[id] = t
	if !s.txn.active {
		s.beginTxn()
	}
	// The version is in force from the start of this transaction.
	return h.SchemaChange(ctx, &capture.SchemaChange{Table: t, Database: id.Namespace, Position: s.txn.start,
		TsMs: int64(ev.Header.Timestamp) * 1000})
}

func (s *Source) rows(ctx context.Context, h capture.Handler, ev *replication.BinlogEvent, e *replication.RowsEvent) error {
	m := s.tables[e.TableID]
	if m == nil {
		return fmt.Errorf("mysql: rows event at %s:%d for table id %d without its TABLE_MAP (protocol violation)", s.file, ev.Header.LogPos, e.TableID)
	}
	if m.signal {
		if e.Type() != replication.EnumRowsEventTypeInsert {
			return nil // the deletes that keep the table empty
		}
		return s.signalRows(ctx, h, e.Rows)
	}
	if !m.captured {
		return nil
	}
	if m.err != nil {
		return m.err
	}
	if !s.txn.active {
		s.beginTxn()
	}
	t := m.table
	for _, skipped := range e.SkippedColumns {
		if len(skipped) > 0 {
			return &SetupError{What: "mysql binlog_row_image", Err: fmt.Errorf("table %s: a row image at %s:%d lacks %d columns (binlog_row_image is not FULL)", t.ID, s.file, ev.Header.LogPos, len(skipped)),
				Fix: "SET GLOBAL binlog_row_image = 'FULL'; and binlog_row_image=FULL under [mysqld] in my.cnf"}
		}
	}
	for _, r := range e.Rows {
		if len(r) != len(t.Columns) {
			return fmt.Errorf("mysql: table %s: a row at %s:%d has %d columns, its TABLE_MAP %d", t.ID, s.file, ev.Header.LogPos, len(r), len(t.Columns))
		}
	}
	src := capture.SourceInfo{TsMs: int64(ev.Header.Timestamp) * 1000, DB: t.ID.Namespace, ServerID: int64(ev.Header.ServerID),
		GTID: s.txn.gtid, File: s.file, Pos: int64(ev.Header.LogPos - ev.Header.EventSize), Thread: s.txn.thread}
	switch e.Type() {
	case replication.EnumRowsEventTypeInsert:
		for i, r := range e.Rows {
			src.Row = int32(i)
			if err := s.emit(ctx, h, t, capture.OpCreate, nil, r, src); err != nil {
				return err
			}
		}
	case replication.EnumRowsEventTypeDelete:
		for i, r := range e.Rows {
			src.Row = int32(i)
			if err := s.emit(ctx, h, t, capture.OpDelete, r, nil, src); err != nil {
				return err
			}
		}
	case replication.EnumRowsEventTypeUpdate:
		if len(e.Rows)%2 != 0 {
			return fmt.Errorf("mysql: table %s: update event at %s:%d has an odd number of row images", t.ID, s.file, ev.Header.LogPos)
		}
		for i := 0; i < len(e.Rows); i += 2 {
			src.Row = int32(i / 2)
			before, after := e.Rows[i], e.Rows[i+1]
			if keyChanged(t, before, after) {
				// As Debezium: a key change is a delete of the old key
				// (with its tombstone) and a create of the new one.
				if err := s.emit(ctx, h, t, capture.OpDelete, before, nil, src); err != nil {
					return err
				}
				if err := s.emit(ctx, h, t, capture.OpCreate, nil, after, src); err != nil {
					return err
				}
				continue
			}
			if err := s.emit(ctx, h, t, capture.OpUpdate, before, after, src); err != nil {
				return err
			}
		}
	default:
		return fmt.Errorf("mysql: unknown rows event type %s at %s:%d", ev.Header.EventType, s.file, ev.Header.LogPos)
	}
	return nil
}

// keyChanged compares the key columns of two row images.
func keyChanged(t *schema.Table, before, after []any) bool {
	for _, k := range t.Key {
		if !rawEqual(before[k], after[k]) {
			return true
		}
	}
	return false
}

// rawEqual compares two decoded binlog values (integers, floats, strings
// and []byte).
func rawEqual(a, b any) bool {
	ab, aok := a.([]byte)
	bb, bok := b.([]byte)
	if aok || bok {
		return aok && bok && bytes.Equal(ab, bb)
	}
	return a == b
}

func (s *Source) emit(ctx context.Context, h capture.Handler, t *schema.Table, op capture.Op, before, after []any, src capture.SourceInfo) error {
	s.txn.delivered++
	if s.skip > 0 {
		s.skip--
		return nil
	}
	if before != nil {
		NormalizeKey(t, before)
	}
	if after != nil {
		NormalizeKey(t, after)
	}
	c := &s.change
	*c = capture.Change{Op: op, Table: t, Before: before, After: after, Source: src}
	return h.Change(ctx, c)
}

// signalRows hands the watermarks (rows of an insert) and requests inserted into the signal
// table over to h, inside their transaction (zero position: the engine
// waits for its Commit). They count as delivered events of the
// transaction, so a transaction read again after a reconnect does not
// hand them over twice.
func (s *Source) signalRows(ctx context.Context, h capture.Handler, rows [][]any) error {
	if !s.txn.active {
		s.beginTxn()
	}
	for _, r := range rows {
		sr, ok := parseSignalRow(r)
		if !ok {
			s.log.Warn("ignoring a signal-table row of an unexpected shape", "table", s.signal.String())
			continue
		}
		s.txn.delivered++
		if s.skip > 0 {
			s.skip--
			continue
		}
		var err error
		switch sr.kind {
		case signalWatermark:
			err = h.Watermark(ctx, &capture.Watermark{ID: sr.id})
		case signalSnapshot:
			err = h.Signal(ctx, &capture.Signal{Payload: sr.payload})
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// quietHandler passes go-mysql's warnings and errors to Sluice's log and
// drops its chatter (every connection logs its whole configuration at
// info level).
type quietHandler struct{ slog.Handler }

func (q quietHandler) Enabled(ctx context.Context, l slog.Level) bool {
	return l >= slog.LevelWarn && q.Handler.Enabled(ctx, l)
}

func (q quietHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return quietHandler{q.Handler.WithAttrs(as)}
}

func (q quietHandler) WithGroup(name string) slog.Handler {
	return quietHandler{q.Handler.WithGroup(name)}
}
