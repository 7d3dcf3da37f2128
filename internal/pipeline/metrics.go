package pipeline

import (
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/sluicecdc/sluice/capture"
	"github.com/sluicecdc/sluice/checkpoint"
	"github.com/sluicecdc/sluice/schema"
)

// ErrorKinds are the kinds Metrics.Error counts; each has a series from
// the start, at 0.
var ErrorKinds = []string{"config", "kafka", "other", "registry", "source", "value"}

// Metrics counts what the pipeline did. It is a prometheus.Collector of
// every pipeline metric, registered by the HTTP endpoint's registry.
//
// The produce path touches only atomics and label children resolved once
// per table and op; everything derived (lag, checkpoint age and position)
// is computed when /metrics is scraped.
type Metrics struct {
	mu        sync.Mutex
	events    map[eventKey]prometheus.Counter // children of eventsVec, by the table's ID itself: counting an event builds no string
	lastEvent eventKey                        // the key of the last event counted, under mu
	lastCount prometheus.Counter              // its counter: a snapshot counts runs of one key, and skips the map
	eventsVec *prometheus.CounterVec
	lastPos   checkpoint.Position

	Bytes   atomic.Uint64
	Commits atomic.Uint64
	// TxnSplits counts commits inside a source transaction too long for
	// one Kafka transaction [I7].
	TxnSplits atomic.Uint64
	// LastCommitUnixMs is when the last checkpoint became durable.
	LastCommitUnixMs atomic.Int64
	// bytesAtCheckpoint is Bytes when the last checkpoint became durable:
	// Bytes grows with every produced event, so a difference means events
	// wait for a checkpoint, at no cost to the produce path.
	bytesAtCheckpoint atomic.Uint64

	// LastSourceTsMs is the source commit time of the last event; CaughtUp
	// is set when the source reports being idle after it.
	LastSourceTsMs atomic.Int64
	CaughtUp       atomic.Bool

	// ProduceLatency is seconds from producing a record to its
	// acknowledgement by Kafka.
	ProduceLatency prometheus.Histogram
	// CommitLatency is seconds from the source commit of a change to
	// Kafka's acknowledgement of its event (snapshot reads excluded).
	CommitLatency prometheus.Histogram

	errors *prometheus.CounterVec

	// untimedAcks counts the acknowledgements of records that are not
	// change events, of which Acked times one in ackSample; now is the
	// clock it reads.
	untimedAcks atomic.Uint64
	now         func() time.Time

	// collectors are the metrics collected as they are; Collect adds the
	// ones that exist only once there is a checkpoint.
	collectors []prometheus.Collector
}

var (
	checkpointAgeDesc = prometheus.NewDesc("sluice_checkpoint_age_seconds",
		"Seconds since the last checkpoint.", nil, nil)
)

// NewMetrics returns empty metrics.
func NewMetrics() *Metrics {
	m := &Metrics{
		now:    time.Now,
		events: map[eventKey]prometheus.Counter{},
		eventsVec: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sluice_events_total", Help: "Change events produced, by table and op.",
		}, []string{"table", "op"}),
		ProduceLatency: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "sluice_kafka_produce_latency_seconds",
			Help:    "Time from producing a record to its acknowledgement by Kafka (every change event; one in 16 other records: snapshot rows, tombstones, Sluice's own).",
			Buckets: []float64{0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10},
		}),
		CommitLatency: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "sluice_commit_to_kafka_latency_seconds",
			Help:    "Time from the source time of a change (its transaction's commit; MySQL: its binlog event) to Kafka's acknowledgement of its change event (snapshot reads excluded).",
			Buckets: []float64{0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3600},
		}),
		errors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sluice_errors_total", Help: "Pipeline errors by kind (kafka, source, registry, value, config, other).",
		}, []string{"kind"}),
	}
	for _, k := range ErrorKinds {
		m.errors.WithLabelValues(k)
	}
	m.collectors = []prometheus.Collector{
		m.eventsVec,
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "sluice_event_bytes_total", Help: "Bytes of produced change records (key and value).",
		}, func() float64 { return float64(m.Bytes.Load()) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "sluice_checkpoint_commits_total", Help: "Checkpoints committed.",
		}, func() float64 { return float64(m.Commits.Load()) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "sluice_transaction_splits_total",
			Help: "Kafka transactions committed inside a source transaction that would have kept one open longer than half of kafka.transaction_timeout.",
		}, func() float64 { return float64(m.TxnSplits.Load()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "sluice_checkpoint_lsn", Help: "Postgres LSN of the last checkpoint (0 for MySQL).",
		}, func() float64 { return float64(m.LastPosition().LSN) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "sluice_checkpoint_binlog_file_number",
			Help: "MySQL binlog file of the last checkpoint, as the number in its name (42 for mysql-bin.000042): one more at each rotation (0 for Postgres).",
		}, func() float64 {
			n, _ := BinlogFileNumber(m.LastPosition().File)
			return float64(n)
		}),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "sluice_checkpoint_binlog_position",
			Help: "MySQL binlog position (byte offset in its file) of the last checkpoint (0 for Postgres).",
		}, func() float64 { return float64(m.LastPosition().Pos) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "sluice_source_lag_seconds", Help: "Seconds the last delivered event's commit is behind now (0 when caught up).",
		}, m.LagSeconds),
		m.ProduceLatency,
		m.CommitLatency,
		m.errors,
	}
	return m
}

// Describe implements prometheus.Collector.
func (m *Metrics) Describe(ch chan<- *prometheus.Desc) {
	for _, c := range m.collectors {
		c.Describe(ch)
	}
	ch <- checkpointAgeDesc
}

// Collect implements prometheus.Collector. The checkpoint's age exists
// once there is a checkpoint.
func (m *Metrics) Collect(ch chan<- prometheus.Metric) {
	for _, c := range m.collectors {
		c.Collect(ch)
	}
	if ms := m.LastCommitUnixMs.Load(); ms > 0 {
		ch <- prometheus.MustNewConstMetric(checkpointAgeDesc, prometheus.GaugeValue, time.Since(time.UnixMilli(ms)).Seconds())
	}
}

// BinlogFileNumber returns the numeric extension of a binlog file name
// (42 for mysql-bin.000042), which orders the files of one server; false
// when the name has none.
func BinlogFileNumber(file string) (uint64, bool) {
	i := strings.LastIndexByte(file, '.')
	if i < 0 {
		return 0, false
	}
	n, err := strconv.ParseUint(file[i+1:], 10, 64)
	return n, err == nil
}

// Error counts an error of a kind (one of ErrorKinds).
func (m *Metrics) Error(kind string) { m.errors.WithLabelValues(kind).Inc() }

// LagSeconds is how far the last delivered event's commit is behind now,
// 0 once the source reported being caught up after it.
func (m *Metrics) LagSeconds() float64 {
	ts := m.LastSourceTsMs.Load()
	if ts == 0 || m.CaughtUp.Load() {
		return 0
	}
	return max(0, time.Since(time.UnixMilli(ts)).Seconds())
}

type eventKey struct {
	Table schema.TableID
	Op    byte
}

// Event counts one produced change event of n bytes whose source
// transaction committed at sourceTsMs (0: not known). The pipeline calls
// it for every event it produces.
func (m *Metrics) Event(t schema.TableID, op capture.Op, n int, sourceTsMs int64) {
	m.event(t, op, n, sourceTsMs)
}

func (m *Metrics) event(t schema.TableID, op capture.Op, n int, sourceTsMs int64) {
	if sourceTsMs > 0 {
		m.LastSourceTsMs.Store(sourceTsMs)
		m.CaughtUp.Store(false)
	}
	k := eventKey{t, byte(op)}
	m.mu.Lock()
	c := m.lastCount
	if c == nil || k != m.lastEvent {
		var ok bool
		if c, ok = m.events[k]; !ok {
			c = m.eventsVec.WithLabelValues(t.String(), op.String())
			m.events[k] = c
		}
		m.lastEvent, m.lastCount = k, c
	}
	m.mu.Unlock()
	c.Inc()
	m.Bytes.Add(uint64(n))
}

// Unsettled reports whether events were produced since the last
// checkpoint (or since Abandon).
func (m *Metrics) Unsettled() bool { return m.Bytes.Load() != m.bytesAtCheckpoint.Load() }

// Abandon forgets the events produced since the last checkpoint, for a
// pipeline that stopped: the next one produces them again from the
// checkpoint.
func (m *Metrics) Abandon() { m.bytesAtCheckpoint.Store(m.Bytes.Load()) }

func (m *Metrics) committed(pos checkpoint.Position) {
	// Every event counted in Bytes was produced on this goroutine before
	// the commit, so the checkpoint covers them all.
	m.bytesAtCheckpoint.Store(m.Bytes.Load())
	m.Commits.Add(1)
	m.LastCommitUnixMs.Store(time.Now().UnixMilli())
	m.mu.Lock()
	m.lastPos = pos
	m.mu.Unlock()
}

// LastPosition returns the last checkpointed position.
func (m *Metrics) LastPosition() checkpoint.Position {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.lastPos
}
