package app

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/twmb/franz-go/pkg/kgo"
	"golang.org/x/sync/errgroup"

	"github.com/sluicecdc/sluice/capture"
	pgcapture "github.com/sluicecdc/sluice/capture/postgres"
	"github.com/sluicecdc/sluice/checkpoint"
	"github.com/sluicecdc/sluice/emit"
	"github.com/sluicecdc/sluice/internal/config"
	"github.com/sluicecdc/sluice/internal/pipeline"
	"github.com/sluicecdc/sluice/internal/transform"
	"github.com/sluicecdc/sluice/schema"
	"github.com/sluicecdc/sluice/snapshot"
)

// State is what the HTTP endpoints report about a running instance.
type State struct {
	Phase    atomic.Value // string: "starting", "snapshot", "streaming", "stopping", "restarting"
	Restarts atomic.Int64
	// SlotRetainedBytes reports the Postgres slot's retained WAL.
	SlotRetainedBytes atomic.Pointer[func() int64]
	Metrics           *pipeline.Metrics
	Snapshot          *snapshot.Progress
	probe             probes
	registry          *prometheus.Registry
}

// NewState returns a state in phase "starting", with the default probe
// thresholds.
func NewState() *State {
	s := &State{Metrics: pipeline.NewMetrics(), Snapshot: &snapshot.Progress{}}
	s.Phase.Store("starting")
	s.probe.now = time.Now
	s.probe.lastChange = s.probe.now()
	s.SetProbeTimeouts(DefaultReadinessTimeout, DefaultLivenessTimeout)
	s.registry = s.newRegistry()
	return s
}

// Stopper lets the caller stop a run gracefully: the source stops at the
// next transaction boundary, the checkpoint is committed, Run returns nil.
type Stopper struct {
	stop atomic.Pointer[func()]
	req  atomic.Bool
	once sync.Once
	ch   chan struct{}
}

// Stop requests a graceful stop.
func (s *Stopper) Stop() {
	if s.req.Swap(true) {
		return
	}
	close(s.wait())
	if f := s.stop.Load(); f != nil {
		(*f)()
	}
}

// wait returns a channel closed by Stop.
func (s *Stopper) wait() chan struct{} {
	s.once.Do(func() { s.ch = make(chan struct{}) })
	return s.ch
}

func (s *Stopper) set(f func()) {
	s.stop.Store(&f)
	if s.req.Load() {
		f()
	}
}

// Run runs the capture pipeline until ctx is cancelled (hard stop) or
// stop is requested (graceful stop).
func Run(ctx context.Context, cfg *config.Config, log *slog.Logger, st *State, stopper *Stopper) error {
	env, err := NewEnv(cfg, log)
	if err != nil {
		return err
	}
	defer env.Close()
	st.hookKafka(&env.Kafka)
	switch cfg.Source.Type {
	case "postgres":
		if _, err := pgcapture.ParseDSN(cfg.Source.DSN); err != nil {
			return &config.Error{Key: "source.dsn", Msg: err.Error()}
		}
		return supervise(ctx, log, st, stopper, func(started func()) error {
			return explain(cfg, runPostgres(ctx, cfg, env, log, st, stopper, started))
		})
	case "mysql":
		return runMySQL(ctx, cfg, env, log, st, stopper)
	default:
		return fmt.Errorf("source.type %q: not supported by this build", cfg.Source.Type)
	}
}

func excludeMap(cols []string) map[string]map[string]bool {
	out := map[string]map[string]bool{}
	for _, c := range cols {
		i := strings.LastIndex(c, ".")
		if i < 0 {
			continue
		}
		t, col := c[:i], c[i+1:]
		if out[t] == nil {
			out[t] = map[string]bool{}
		}
		out[t][col] = true
	}
	return out
}

// startPipeline connects the producer, checks the registry, creates the
// internal topics and reads the stored checkpoint (nil when there is
// none). The caller closes the producer.
//
// claim says whether the read is the one the run is decided on: it is
// then made by loadCheckpoint, after the transactional.id is claimed. A
// source that first takes a lock of its own on the database (Postgres:
// the slot's) passes false, reads nothing here, and decides on
// loadCheckpoint's read once it holds the lock, so that a second instance
// is refused by the lock before it can fence the first.
func startPipeline(ctx context.Context, cfg *config.Config, env *Env, log *slog.Logger, st *State, kind schema.SourceKind, claim bool) (*emit.Producer, pipeline.Options, *checkpoint.Checkpoint, error) {
	po := pipeline.Options{
		Name: cfg.Name, Kind: kind, Tombstones: cfg.Kafka.Tombstones, AvroLogicalTypes: cfg.SchemaRegistry.AvroLogicalTypes,
		Partitions: int32(cfg.Kafka.Partitions), Replication: int16(cfg.Kafka.ReplicationFactor),
		CommitInterval: cfg.Checkpoint.Interval, CommitEvents: cfg.Checkpoint.MaxEvents, Linger: cfg.Checkpoint.Linger,
		SplitAfter:     cfg.Kafka.TransactionTimeout / 2, // [I7]
		TxnMetadata:    cfg.Kafka.TransactionMetadata,
		ExcludeColumns: excludeMap(cfg.Source.ExcludeColumns), Logger: log, Metrics: st.Metrics,
		SkipOps: skipOps(&cfg.Source),
	}
	if len(cfg.Transforms) > 0 {
		chain, err := transform.New(cfg.Transforms, kind, cfg.Name, log)
		if err != nil {
			return nil, po, nil, err
		}
		po.Transforms = chain
	}
	prod, err := emit.NewProducer(env.Kafka)
	if err != nil {
		return nil, po, nil, err
	}
	fail := func(err error) (*emit.Producer, pipeline.Options, *checkpoint.Checkpoint, error) {
		prod.Close()
		return nil, po, nil, err
	}
	// A transaction timeout the brokers refuse is a configuration
	// problem: report it before anything else is set up. The registry is
	// checked meanwhile (both only read); a failure of the check comes
	// first, as it would in turn.
	t0 := time.Now()
	regErr := make(chan error, 1)
	go func() { regErr <- env.Registry.Ping(ctx) }()
	if err := prod.CheckTransactionTimeout(ctx); err != nil {
		return fail(err)
	}
	if err := <-regErr; err != nil {
		return fail(err)
	}
	t1 := time.Now()
	// The internal topics must exist before the checkpoint can be read.
	if err := pipeline.New(po, prod, env.Registry, nil).EnsureInternalTopics(ctx); err != nil {
		return fail(err)
	}
	t2 := time.Now()
	var cp *checkpoint.Checkpoint
	if claim {
		if cp, err = loadCheckpoint(ctx, cfg, env, prod); err != nil {
			return fail(fmt.Errorf("reading checkpoint: %w", err))
		}
	}
	log.Debug("kafka and the registry ready", "checks", t1.Sub(t0), "internal_topics", t2.Sub(t1), "checkpoint_read", time.Since(t2))
	logResume(log, cp)
	return prod, po, cp, nil
}

func logResume(log *slog.Logger, cp *checkpoint.Checkpoint) {
	if cp != nil {
		log.Info("resuming from checkpoint", "position", cp.Position.String(), "snapshot_done", cp.SnapshotDone)
	}
}

// loadCheckpoint reads the stored checkpoint that a run is decided on. In
// exactly-once mode it first claims the transactional.id: InitProducerId
// makes the coordinator resolve the previous holder's transaction, so a
// commit still on its way (an EndTxn whose outcome a crashed or restarted
// producer never learnt) has ended committed or fenced before the read,
// and an instance still running is fenced with its open transaction
// aborted. The checkpoint read is then the last the id can ever commit;
// read first, a commit landing after the read would have its events
// produced twice (TestExactlyOnceClaimBeforeCheckpointRead).
func loadCheckpoint(ctx context.Context, cfg *config.Config, env *Env, prod *emit.Producer) (*checkpoint.Checkpoint, error) {
	if err := prod.ClaimTransactionalID(ctx); err != nil {
		return nil, err
	}
	return readCheckpoint(ctx, cfg, env, slog.Default())
}

// readCheckpoint reads the stored checkpoint; when there is none, one
// stored by an older release under the internal topic's former name
// (<name>.sluice.offsets) is carried over: the next checkpoint goes to the
// new topic, so nothing is lost and nothing is taken again.
func readCheckpoint(ctx context.Context, cfg *config.Config, env *Env, log *slog.Logger) (*checkpoint.Checkpoint, error) {
	opts := env.Kafka.ClientOpts()
	cp, err := checkpoint.Load(ctx, opts, pipeline.OffsetsTopic(cfg.Name), cfg.Name)
	if cp != nil || err != nil {
		return cp, err
	}
	legacy := pipeline.LegacyOffsetsTopic(cfg.Name)
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return nil, err
	}
	exists, err := topicExists(ctx, cl, legacy)
	cl.Close()
	if err != nil || !exists {
		return nil, err
	}
	if cp, err = checkpoint.Load(ctx, opts, legacy, cfg.Name); cp != nil {
		log.Info("checkpoint carried over from the internal topic's former name", "from", legacy, "to", pipeline.OffsetsTopic(cfg.Name),
			"position", cp.Position.String())
	}
	return cp, err
}

func runPostgres(ctx context.Context, cfg *config.Config, env *Env, log *slog.Logger, st *State, stopper *Stopper, started func()) error {
	stls, err := TLSConfig(cfg.Source.TLS, "source")
	if err != nil {
		return err
	}
	// Kafka and the registry get ready while the source connects and
	// checks the server: the source waits for them before it reads the
	// checkpoint, and changes nothing on the server before. Kafka's
	// failure comes first, as when it was set up first, and stops the
	// source's setup at once.
	type kafkaReady struct {
		prod *emit.Producer
		po   pipeline.Options
		err  error
	}
	octx, stopOpen := context.WithCancel(ctx)
	defer stopOpen()
	ready := make(chan kafkaReady, 1)
	go func() {
		prod, po, _, err := startPipeline(ctx, cfg, env, log, st, schema.Postgres, false)
		if err != nil {
			stopOpen()
		}
		ready <- kafkaReady{prod, po, err}
	}()
	var (
		got  kafkaReady
		once sync.Once
	)
	// kafka waits for Kafka and the registry (once).
	kafka := func() kafkaReady {
		once.Do(func() { got = <-ready })
		return got
	}
	t0 := time.Now()
	src, plan, err := pgcapture.Open(octx, pgcapture.Config{
		DSN: cfg.Source.DSN, TLS: stls, Slot: cfg.Source.Postgres.Slot, Publication: cfg.Source.Postgres.Publication,
		Filter:            pgcapture.Filter{Include: cfg.Source.Tables, Exclude: cfg.Source.ExcludeTables},
		ExcludeColumns:    excludeMap(cfg.Source.ExcludeColumns),
		HeartbeatInterval: cfg.Source.Postgres.HeartbeatInterval, StatusInterval: cfg.Source.Postgres.StatusInterval,
		Logger: log, Messages: transform.MessageTables(cfg.Transforms),
		ReadCheckpoint: func(ctx context.Context) (*checkpoint.Checkpoint, error) {
			if r := kafka(); r.err != nil {
				return nil, r.err
			}
			return readCheckpoint(ctx, cfg, env, log)
		},
		ReloadCheckpoint: func(ctx context.Context) (*checkpoint.Checkpoint, error) {
			r := kafka()
			if r.err != nil {
				return nil, r.err
			}
			return loadCheckpoint(ctx, cfg, env, r.prod) // with the slot's lock held
		},
	}, nil, cfg.Snapshot.Mode)
	r := kafka()
	if r.err != nil {
		if src != nil {
			src.Close()
		}
		return r.err
	}
	prod, po := r.prod, r.po
	defer prod.Close()
	if err != nil {
		return capture.FromSource(err)
	}
	defer src.Close()
	log.Debug("source opened", "took", time.Since(t0))
	started()
	cp := plan.Checkpoint // read once the slot was known to be free
	logResume(log, cp)
	po.Slot = cfg.Source.Postgres.Slot
	retained := src.RetainedWAL
	st.SlotRetainedBytes.Store(&retained)
	po.ServerID = plan.SystemID
	ids := make([]schema.TableID, len(plan.Tables))
	for i, t := range plan.Tables {
		ids[i] = t.ID
		po.Tables = append(po.Tables, t.ID.String())
	}
	p := pipeline.New(po, prod, env.Registry, cp)
	p.SetSource(src)

	// Snapshots are read in chunks between watermarks while streaming
	// (snapshot.Engine); a checkpoint carries their progress.
	var state *checkpoint.SnapshotState
	if cp != nil {
		state = cp.Snapshot
	}
	sn := src.Snapshotter()
	defer sn.Close()
	if err := checkTransforms(ctx, po, sn, ids, log); err != nil {
		return err
	}
	eng := snapshot.NewEngine(sn, p, snapshot.EngineOptions{
		ChunkSize: cfg.Snapshot.ChunkSize, Parallelism: cfg.Snapshot.Parallelism, ProgressInterval: cfg.Snapshot.ProgressInterval,
		Logger: log, Progress: st.Snapshot, Name: cfg.Name,
		Captured: func(id schema.TableID) bool {
			for _, t := range ids {
				if t == id {
					return true
				}
			}
			return false
		},
	}, state)
	switch {
	case plan.Snapshot:
		eng.Add(ids, plan.Bounds, true, "")
		// The slot's consistent point, with every table's snapshot to
		// take, is the first checkpoint.
		if err := p.SnapshotDone(ctx, checkpoint.Position{LSN: plan.StartLSN}); err != nil {
			return err
		}
		log.Info("snapshot started", "tables", len(ids), "lsn", plan.StartLSN.String(), "chunk_size", cfg.Snapshot.ChunkSize)
	case cp == nil:
		// snapshot.mode never: the start position is the first checkpoint.
		if err := p.SnapshotDone(ctx, checkpoint.Position{LSN: plan.StartLSN}); err != nil {
			return err
		}
	case len(plan.Added) > 0:
		log.Info("tables newly captured: their snapshot is taken while streaming", "tables", fmt.Sprint(plan.Added))
		eng.Add(plan.Added, nil, false, "")
	}
	if eng.Pending() {
		log.Info("snapshots under way", "tables", len(eng.State()))
	}
	return stream(ctx, src, p, eng, cfg.Snapshot.Mode == pgcapture.SnapshotInitialOnly, st, stopper, log)
}

// skipOps is source.skipped_operations as pipeline.Options.SkipOps.
func skipOps(s *config.Source) string {
	var ops []byte
	for _, op := range []byte("cudt") {
		if s.SkipsOp(op) {
			ops = append(ops, op)
		}
	}
	return string(ops)
}

// stoppable is a source that can stop at a transaction boundary.
type stoppable interface {
	capture.Source
	Stop()
}

// stream runs src into p until it fails or a graceful stop, and then
// commits what was produced (the source stops at a transaction boundary).
// eng, when not nil, sits between them and takes the snapshots under way
// while streaming; with stopWhenDone the run stops gracefully once they
// are done (snapshot.mode initial_only).
func stream(ctx context.Context, src stoppable, p *pipeline.Pipeline, eng *snapshot.Engine, stopWhenDone bool,
	st *State, stopper *Stopper, log *slog.Logger) error {
	st.Phase.Store("streaming")
	stopper.set(src.Stop)
	var h capture.Handler = p
	g, gctx := errgroup.WithContext(ctx)
	ectx, stopEngine := context.WithCancel(gctx)
	defer stopEngine()
	if eng != nil {
		h = eng
		g.Go(func() error { return eng.Run(ectx) })
		if stopWhenDone {
			g.Go(func() error {
				done := eng.Done()
				if !eng.Pending() {
					c := make(chan struct{})
					close(c)
					done = c
				}
				select {
				case <-done:
					log.Info("every snapshot is done; stopping (snapshot.mode initial_only)")
					stopper.Stop()
				case <-ectx.Done():
				}
				return nil
			})
		}
	}
	g.Go(func() error {
		defer stopEngine() // a stopped source ends the snapshot's reads
		return src.Run(gctx, &observed{Handler: h, st: st})
	})
	if err := g.Wait(); err != nil {
		return capture.FromSource(err)
	}
	st.Phase.Store("stopping")
	// The source stopped at a transaction boundary (graceful stop). ctx
	// is still live here; it ends only on a hard stop (the second signal),
	// which must interrupt this checkpoint too: the commit then fails,
	// nothing after the last checkpoint is acknowledged, and the process
	// exits.
	cctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	committed, err := p.Finish(cctx)
	if err != nil {
		return fmt.Errorf("final checkpoint: %w", err)
	}
	if !committed {
		log.Warn("stopped inside a source transaction whose connection was lost; the open Kafka transaction is aborted and read again from the checkpoint at the next start",
			"position", p.Checkpointed().String())
		return nil
	}
	log.Info("stopped; checkpoint committed", "position", p.Checkpointed().String())
	return nil
}

// observed reports the source's commit and idle positions to the probes
// (row changes are counted by the pipeline's metrics).
type observed struct {
	capture.Handler
	st *State
}

func (o *observed) Commit(ctx context.Context, pos checkpoint.Position) error {
	o.st.sourcePosition()
	return o.Handler.Commit(ctx, pos)
}

func (o *observed) Idle(ctx context.Context, pos checkpoint.Position) error {
	o.st.sourcePosition()
	return o.Handler.Idle(ctx, pos)
}
