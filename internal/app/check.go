package app

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sr"

	"github.com/sluicecdc/sluice/capture"
	pgcapture "github.com/sluicecdc/sluice/capture/postgres"
	"github.com/sluicecdc/sluice/checkpoint"
	"github.com/sluicecdc/sluice/emit"
	"github.com/sluicecdc/sluice/internal/config"
	"github.com/sluicecdc/sluice/internal/pipeline"
	"github.com/sluicecdc/sluice/schema"
)

// CheckTimeout bounds every network step of `sluice check` (one
// connection, one query, one Kafka request), so that an unreachable or
// black-holed server costs a FAIL line, not a hang.
const CheckTimeout = 20 * time.Second

// CheckStatus is the outcome of one check.
type CheckStatus string

// Check outcomes. FAIL makes `sluice check` exit 1; WARN points at
// something that works but will surprise; SKIP is a check that could not
// run because an earlier one failed, or that this build lacks.
const (
	CheckPass CheckStatus = "PASS"
	CheckFail CheckStatus = "FAIL"
	CheckWarn CheckStatus = "WARN"
	CheckSkip CheckStatus = "SKIP"
)

// CheckResult is one line of `sluice check` output:
//
//	STATUS what: detail; fix: fix
type CheckResult struct {
	Status CheckStatus
	What   string // the prerequisite, e.g. "postgres wal_level"
	Detail string // what was found
	Fix    string // for FAIL and WARN: exactly what to do (the SQL, the setting)
}

// String renders the result on one line.
func (r CheckResult) String() string {
	s := string(r.Status) + " " + r.What
	if r.Detail != "" {
		s += ": " + r.Detail
	}
	if r.Fix != "" {
		s += "; fix: " + r.Fix
	}
	// One check, one line, whatever a server put in its error message.
	return strings.Join(strings.Fields(strings.ReplaceAll(s, "\n", " ")), " ")
}

// CheckReport writes results as they come and remembers whether any
// failed. It is safe for concurrent use.
type CheckReport struct {
	mu      sync.Mutex
	w       io.Writer
	results []CheckResult
}

// NewCheckReport returns a report writing to w.
func NewCheckReport(w io.Writer) *CheckReport { return &CheckReport{w: w} }

// Add writes and records one result.
func (r *CheckReport) Add(res CheckResult) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.results = append(r.results, res)
	_, _ = fmt.Fprintln(r.w, res.String())
}

// Pass records a met prerequisite.
func (r *CheckReport) Pass(what, detail string) { r.Add(CheckResult{CheckPass, what, detail, ""}) }

// Fail records an unmet prerequisite and its fix.
func (r *CheckReport) Fail(what, detail, fix string) {
	r.Add(CheckResult{CheckFail, what, detail, fix})
}

// Warn records something that works but deserves attention, and its fix.
func (r *CheckReport) Warn(what, detail, fix string) {
	r.Add(CheckResult{CheckWarn, what, detail, fix})
}

// Skip records a check that did not run, and why.
func (r *CheckReport) Skip(what, why string) { r.Add(CheckResult{CheckSkip, what, why, ""}) }

// FailErr records err as a failure of what. A *postgres.SetupError
// carries its own fix; otherwise fix is used.
func (r *CheckReport) FailErr(what string, err error, fix string) {
	var se *pgcapture.SetupError
	if errors.As(err, &se) {
		r.Fail(what, se.What+": "+se.Err.Error(), se.Fix)
		return
	}
	r.Fail(what, err.Error(), fix)
}

// checkFilter fails for each literal name of source.tables that matches no
// table (naming the closest ones) and warns for each glob that matches
// none, as run refuses and warns (capture.Filter.Verify).
func checkFilter(r *CheckReport, what string, f *capture.Filter, all []schema.TableID) {
	warnings, err := f.Verify(all)
	for _, w := range warnings {
		r.Warn(what, w, "check the pattern (case-sensitive <namespace>.<table>)")
	}
	var se *capture.SetupError
	switch {
	case errors.As(err, &se):
		r.Fail(what, se.Err.Error(), se.Fix)
	case err != nil:
		r.Fail(what, err.Error(), "")
	}
}

// Failed reports whether any check failed.
func (r *CheckReport) Failed() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, res := range r.results {
		if res.Status == CheckFail {
			return true
		}
	}
	return false
}

// Results returns the results so far.
func (r *CheckReport) Results() []CheckResult {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]CheckResult(nil), r.results...)
}

// SourceChecker checks the prerequisites of one source type. It is the
// seam through which a source adds its checks: a source type registers
// itself in sourceCheckers from its own file, e.g.
//
//	func init() { sourceCheckers[config.SourceMySQL] = mysqlChecker{} }
//
// A source type without a checker gets one "SKIP <type> checks not in this
// build" line; the Kafka and registry checks still run.
type SourceChecker interface {
	// CheckSource reports one result per prerequisite on c.Report, and
	// returns the change topics of the captured tables (for the Kafka
	// topic checks), or nil when they could not be listed. It compares
	// the source with the stored checkpoint through c.Checkpoint.
	CheckSource(ctx context.Context, c *CheckEnv) []string
}

// sourceCheckers maps source.type to its checks.
var sourceCheckers = map[string]SourceChecker{
	config.SourcePostgres: postgresChecker{},
}

// CheckEnv is what a SourceChecker works with: the configuration, the
// report, and the stored checkpoint (read once, lazily, from Kafka).
type CheckEnv struct {
	Config *config.Config
	Report *CheckReport

	kafkaOnce sync.Once
	kafka     *kgo.Client   // nil when unusable; see kafkaErr
	kafkaErr  error         // why Kafka cannot be used
	kafkaMeta kadm.Metadata // brokers, at connection time
	embedded  bool          // kafka.brokers is empty
	cpOnce    sync.Once
	cp        *checkpoint.Checkpoint
	cpErr     error
}

// errNoKafka wraps the reason the checkpoint could not be read.
var errNoKafka = errors.New("checkpoint not read")

// Checkpoint returns the checkpoint stored for this name (nil when there
// is none). The error says why it could not be read (Kafka unreachable,
// embedded development broker); the Kafka checks report that cause.
func (c *CheckEnv) Checkpoint(ctx context.Context) (*checkpoint.Checkpoint, error) {
	c.cpOnce.Do(func() {
		cl, err := c.kafkaClient(ctx)
		if err != nil {
			c.cpErr = fmt.Errorf("%w: %w", errNoKafka, err)
			return
		}
		topic := pipeline.OffsetsTopic(c.Config.Name)
		cctx, cancel := context.WithTimeout(ctx, 2*CheckTimeout)
		defer cancel()
		exists, err := topicExists(cctx, cl, topic)
		if err != nil {
			c.cpErr = fmt.Errorf("%w: %w", errNoKafka, err)
			return
		}
		if !exists {
			return // no checkpoint topic, so no checkpoint
		}
		opts, _ := kafkaClientOpts(c.Config)
		c.cp, c.cpErr = checkpoint.Load(cctx, opts, topic, c.Config.Name)
		if c.cpErr != nil {
			c.cpErr = fmt.Errorf("%w: reading %s: %w", errNoKafka, topic, c.cpErr)
		}
	})
	return c.cp, c.cpErr
}

// kafkaClient connects to the configured brokers once and asks for their
// metadata; the result (or why it failed) is kept for the Kafka checks.
func (c *CheckEnv) kafkaClient(ctx context.Context) (*kgo.Client, error) {
	c.kafkaOnce.Do(func() {
		if len(c.Config.Kafka.Brokers) == 0 {
			c.embedded = true
			c.kafkaErr = errors.New("kafka.brokers is empty: the embedded development broker keeps nothing between runs")
			return
		}
		opts, err := kafkaClientOpts(c.Config)
		if err != nil {
			c.kafkaErr = err
			return
		}
		cl, err := kgo.NewClient(opts...)
		if err != nil {
			c.kafkaErr = err
			return
		}
		cctx, cancel := context.WithTimeout(ctx, CheckTimeout)
		defer cancel()
		c.kafkaMeta, err = kadm.NewClient(cl).BrokerMetadata(cctx)
		if err != nil {
			cl.Close()
			if cctx.Err() != nil {
				err = fmt.Errorf("no answer within %s (%w)", CheckTimeout, err)
			}
			c.kafkaErr = fmt.Errorf("brokers %s: %w", strings.Join(c.Config.Kafka.Brokers, ","), err)
			return
		}
		c.kafka = cl
	})
	return c.kafka, c.kafkaErr
}

func (c *CheckEnv) close() {
	if c.kafka != nil {
		c.kafka.Close()
	}
}

// Check runs every preflight check for cfg and writes one line per check
// to w. It returns false when any check failed. It changes nothing: no
// slot, publication or topic is created, and no transactional producer is
// initialised (that would fence a running instance).
func Check(ctx context.Context, cfg *config.Config, w io.Writer) bool {
	r := NewCheckReport(w)
	env := &CheckEnv{Config: cfg, Report: r}
	defer env.close()

	var topics []string
	if sc, ok := sourceCheckers[cfg.Source.Type]; ok {
		topics = sc.CheckSource(ctx, env)
	} else {
		r.Skip(cfg.Source.Type+" checks not in this build", "")
	}
	checkKafka(ctx, env, topics)
	checkRegistry(ctx, cfg, r)
	return !r.Failed()
}

// kafkaClientOpts returns the client options `sluice run` uses for the
// configured brokers (TLS, SASL, client id), without starting the
// embedded broker when none is configured.
func kafkaClientOpts(cfg *config.Config) ([]kgo.Opt, error) {
	ktls, err := TLSConfig(cfg.Kafka.TLS, "kafka")
	if err != nil {
		return nil, err
	}
	clientID := cfg.Kafka.ClientID
	if clientID == "" {
		clientID = "sluice-" + cfg.Name
	}
	o := emit.Options{Brokers: cfg.Kafka.Brokers, ClientID: clientID, TLS: ktls, SASL: saslMechanism(cfg.Kafka.SASL)}
	return o.ClientOpts(), nil
}

// postgresConfig parses source.dsn with source.tls applied, as `sluice
// run` connects.
func postgresConfig(cfg *config.Config) (*pgconn.Config, error) {
	stls, err := TLSConfig(cfg.Source.TLS, "source")
	if err != nil {
		return nil, err
	}
	return pgcapture.ParseDSN(cfg.Source.DSN, pgcapture.WithTLS(stls))
}

// explained renders err for a check line: explain's wording when it knows
// the failure (rejected credentials, certificates that do not verify),
// with its fix; otherwise err and fallbackFix.
func explained(cfg *config.Config, err error, fallbackFix string) (detail, fix string) {
	msg := explain(cfg, err).Error()
	if msg != err.Error() {
		if i := strings.LastIndex(msg, "; fix: "); i >= 0 {
			return msg[:i], msg[i+len("; fix: "):]
		}
	}
	return msg, fallbackFix
}

func topicExists(ctx context.Context, cl *kgo.Client, topic string) (bool, error) {
	td, err := kadm.NewClient(cl).ListTopics(ctx, topic)
	if err != nil {
		return false, err
	}
	d, ok := td[topic]
	if !ok || errors.Is(d.Err, kerr.UnknownTopicOrPartition) {
		return false, nil
	}
	return d.Err == nil, d.Err
}

// ---------------------------------------------------------------- kafka --

func checkKafka(ctx context.Context, env *CheckEnv, changeTopics []string) {
	cfg, r := env.Config, env.Report
	cl, err := env.kafkaClient(ctx)
	if env.embedded {
		r.Warn("kafka brokers", "kafka.brokers is empty: sluice run starts an embedded in-process development broker on 127.0.0.1:9092 that keeps nothing between runs",
			"set kafka.brokers to your Kafka cluster for anything but a demo")
		return
	}
	if err != nil {
		detail, fix := explained(cfg, err,
			"check kafka.brokers (host:port of the brokers' advertised listeners), that the brokers run and are reachable from here, and kafka.tls / kafka.sasl")
		r.Fail("kafka brokers", detail, fix)
		r.Skip("kafka topics, checkpoint and transactions", "the brokers are not reachable")
		return
	}
	ids := make([]string, 0, len(env.kafkaMeta.Brokers))
	for _, b := range env.kafkaMeta.Brokers {
		ids = append(ids, strconv.Itoa(int(b.NodeID)))
	}
	r.Pass("kafka brokers", fmt.Sprintf("reachable: cluster %s, %d broker(s) (ids %s)", env.kafkaMeta.Cluster, len(ids), strings.Join(ids, ",")))

	checkCheckpointRecord(ctx, env)
	checkTopics(ctx, cfg, r, kadm.NewClient(cl), len(env.kafkaMeta.Brokers), changeTopics)
	if cfg.Kafka.ExactlyOnce {
		checkTransactions(ctx, cfg, r, kadm.NewClient(cl))
	} else {
		r.Pass("kafka transactions", "not used (kafka.exactly_once: false, at-least-once delivery)")
	}
}

func checkCheckpointRecord(ctx context.Context, env *CheckEnv) {
	cp, err := env.Checkpoint(ctx)
	r := env.Report
	topic := pipeline.OffsetsTopic(env.Config.Name)
	switch {
	case err != nil:
		r.Fail("kafka checkpoint", err.Error(), "check that Sluice's principal may read "+topic+" (READ and DESCRIBE on the topic)")
	case cp == nil:
		r.Pass("kafka checkpoint", "none stored in "+topic+": sluice run starts from scratch (snapshot.mode "+env.Config.Snapshot.Mode+")")
	default:
		snap := "snapshot done"
		switch {
		case !cp.SnapshotDone:
			snap = "snapshot NOT complete: sluice run takes it again"
		case cp.Snapshot != nil && len(cp.Snapshot.Tables) > 0:
			snap = fmt.Sprintf("snapshots of %d table(s) under way: sluice run resumes them", len(cp.Snapshot.Tables))
		}
		r.Pass("kafka checkpoint", fmt.Sprintf("%s, %s, written %s ago", cp.Position, snap, time.Since(time.UnixMilli(cp.TsMs)).Truncate(time.Second)))
	}
}

// checkTopics asks the brokers to validate (create nothing) the topics
// sluice run would create, so missing CREATE permissions, a replication
// factor larger than the cluster or a create-topic policy show up now.
func checkTopics(ctx context.Context, cfg *config.Config, r *CheckReport, adm *kadm.Client, brokers int, changeTopics []string) {
	type spec struct {
		name       string
		partitions int32
		configs    map[string]*string
	}
	specs := []spec{
		{pipeline.OffsetsTopic(cfg.Name), 1, emit.OffsetsConfigs},
		{pipeline.HistoryTopic(cfg.Name), 1, emit.HistoryConfigs},
	}
	for _, t := range changeTopics {
		specs = append(specs, spec{t, int32(cfg.Kafka.Partitions), nil})
	}
	names := make([]string, len(specs))
	for i, s := range specs {
		names[i] = s.name
	}
	cctx, cancel := context.WithTimeout(ctx, CheckTimeout)
	defer cancel()
	existing, err := adm.ListTopics(cctx, names...)
	if err != nil {
		r.Fail("kafka topics", "listing topics: "+err.Error(), "grant DESCRIBE on the topics "+cfg.Name+".* to Sluice's principal")
		return
	}
	checkInternalTopicConfigs(cctx, cfg, r, adm, existing)

	var missing []string
	failed := false
	for _, s := range specs {
		if d, ok := existing[s.name]; ok && d.Err == nil {
			continue
		}
		missing = append(missing, s.name)
		resp, err := adm.ValidateCreateTopics(cctx, s.partitions, int16(cfg.Kafka.ReplicationFactor), s.configs, s.name)
		if err == nil {
			var one kadm.CreateTopicResponse
			if one, err = resp.On(s.name, nil); err == nil {
				err = one.Err
				if err != nil && one.ErrMessage != "" {
					err = fmt.Errorf("%w (%s)", err, one.ErrMessage)
				}
			}
		}
		switch {
		case err == nil, errors.Is(err, kerr.TopicAlreadyExists):
			continue
		case errors.Is(err, kerr.TopicAuthorizationFailed), errors.Is(err, kerr.ClusterAuthorizationFailed):
			r.Fail("kafka create topic "+s.name, "not authorized: "+err.Error(),
				fmt.Sprintf("grant CREATE on the topics to Sluice's principal (kafka-acls.sh --add --allow-principal User:<sluice> --operation Create --topic %s. --resource-pattern-type prefixed), or create the topic beforehand%s", cfg.Name, createHint(s.name, s.configs)))
		case errors.Is(err, kerr.InvalidReplicationFactor):
			r.Fail("kafka create topic "+s.name, fmt.Sprintf("replication factor %d rejected with %d broker(s): %v", cfg.Kafka.ReplicationFactor, brokers, err),
				fmt.Sprintf("set kafka.replication_factor to at most %d (or -1 for the broker's default.replication.factor)", brokers))
		default:
			r.Fail("kafka create topic "+s.name, err.Error(), "create the topic beforehand"+createHint(s.name, s.configs))
		}
		failed = true
	}
	if failed {
		return
	}
	detail := fmt.Sprintf("all %d topic(s) exist", len(specs))
	if len(missing) > 0 {
		detail = fmt.Sprintf("%d of %d topic(s) exist; the brokers accept creating the other %d (validate-only CreateTopics)", len(specs)-len(missing), len(specs), len(missing))
	}
	if changeTopics == nil {
		detail += "; change topics not validated: the captured tables could not be listed"
	}
	r.Pass("kafka topics", detail)
}

func createHint(topic string, configs map[string]*string) string {
	keys := make([]string, 0, len(configs))
	for k := range configs {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	s := ": kafka-topics.sh --create --topic " + topic
	for _, k := range keys {
		s += " --config " + k + "=" + *configs[k]
	}
	return s
}

// checkInternalTopicConfigs warns when an existing offsets topic is not
// compacted (checkpoints would expire with retention) or the history
// topic has a finite retention (schema versions would be lost).
func checkInternalTopicConfigs(ctx context.Context, cfg *config.Config, r *CheckReport, adm *kadm.Client, existing kadm.TopicDetails) {
	want := map[string]map[string]*string{
		pipeline.OffsetsTopic(cfg.Name): emit.OffsetsConfigs,
		pipeline.HistoryTopic(cfg.Name): emit.HistoryConfigs,
	}
	var present []string
	for t := range want {
		if d, ok := existing[t]; ok && d.Err == nil {
			present = append(present, t)
		}
	}
	if len(present) == 0 {
		return
	}
	sort.Strings(present)
	rcs, err := adm.DescribeTopicConfigs(ctx, present...)
	if err != nil {
		r.Warn("kafka internal topics", "cannot read their configuration: "+err.Error(), "grant DESCRIBE_CONFIGS on "+strings.Join(present, ", ")+" to check it")
		return
	}
	for _, rc := range rcs {
		if rc.Err != nil {
			r.Warn("kafka topic "+rc.Name, "cannot read its configuration: "+rc.Err.Error(), "grant DESCRIBE_CONFIGS on it to check it")
			continue
		}
		got := map[string]string{}
		for _, c := range rc.Configs {
			if c.Value != nil {
				got[c.Key] = *c.Value
			}
		}
		var bad []string
		keys := make([]string, 0, len(want[rc.Name]))
		for k := range want[rc.Name] {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			if v := *want[rc.Name][k]; got[k] != v {
				bad = append(bad, fmt.Sprintf("%s=%s (want %s)", k, got[k], v))
			}
		}
		if len(bad) > 0 {
			fix := make([]string, 0, len(keys))
			for _, k := range keys {
				fix = append(fix, k+"="+*want[rc.Name][k])
			}
			r.Warn("kafka topic "+rc.Name, strings.Join(bad, ", "),
				"kafka-configs.sh --alter --entity-type topics --entity-name "+rc.Name+" --add-config "+strings.Join(fix, ","))
		}
	}
}

// checkTransactions checks exactly-once prerequisites without touching
// the transactional id. InitProducerID with sluice-<name> would prove
// WRITE permission, but it bumps the producer epoch and so fences a
// running instance of the same name: a preflight must never do that. So
// the check describes the transactional id instead: that needs the
// transaction coordinator (which proves the brokers can run transactions:
// __transaction_state exists or can be created with its replication
// settings) and DESCRIBE on the transactional id, which every principal
// with WRITE on it has. WRITE itself is not proven; docs/operations.md
// says so.
func checkTransactions(ctx context.Context, cfg *config.Config, r *CheckReport, adm *kadm.Client) {
	id := "sluice-" + cfg.Name
	cctx, cancel := context.WithTimeout(ctx, CheckTimeout)
	defer cancel()
	const what = "kafka transactions"
	notProven := " (WRITE on it is not tested: initialising a transactional producer would fence a running instance)"
	var d kadm.DescribedTransaction
	var err error
	for {
		var ds kadm.DescribedTransactions
		ds, err = adm.DescribeTransactions(cctx, id)
		if err == nil {
			d, err = ds.On(id, nil)
			if err == nil {
				err = d.Err
			}
		}
		// On a cluster that never ran a transaction, the first lookup
		// creates __transaction_state and answers COORDINATOR_NOT_AVAILABLE
		// until its partitions have leaders.
		if !kerr.IsRetriable(err) || cctx.Err() != nil {
			break
		}
		select {
		case <-cctx.Done():
		case <-time.After(500 * time.Millisecond):
		}
	}
	switch {
	case err == nil:
		state := "state " + d.State
		if d.State == "Ongoing" {
			state = "a transaction is open (another instance is running?)"
		}
		r.Pass(what, fmt.Sprintf("transactional.id %s: coordinator broker %d, %s, producer id %d epoch %d%s", id, d.Coordinator, state, d.ProducerID, d.ProducerEpoch, notProven))
	case errors.Is(err, kerr.TransactionalIDNotFound):
		r.Pass(what, fmt.Sprintf("the transaction coordinator answers; transactional.id %s is not in use yet%s", id, notProven))
	case errors.Is(err, kerr.TransactionalIDAuthorizationFailed):
		r.Fail(what, "transactional.id "+id+": not authorized: "+err.Error(),
			"grant WRITE (which includes DESCRIBE) on the transactional id to Sluice's principal: kafka-acls.sh --add --allow-principal User:<sluice> --operation Write --operation Describe --transactional-id "+id+"; or set kafka.exactly_once: false")
	case errors.Is(err, kerr.UnsupportedVersion):
		r.Warn(what, "the brokers cannot describe transactions (Kafka before 3.0); transactions not checked", "none, or upgrade Kafka; sluice run reports a problem when it starts its transactional producer")
	default:
		r.Fail(what, "transactional.id "+id+": "+err.Error(),
			"make sure the brokers can run transactions: transaction.state.log.replication.factor and transaction.state.log.min.isr at most the number of brokers; or set kafka.exactly_once: false")
	}
}

// ------------------------------------------------------------- registry --

func checkRegistry(ctx context.Context, cfg *config.Config, r *CheckReport) {
	if cfg.SchemaRegistry.URL == "" {
		r.Warn("schema registry", "schema_registry.url is empty: sluice run starts an embedded in-process development registry on http://127.0.0.1:8081 that keeps nothing between runs",
			"set schema_registry.url to your registry for anything but a demo")
		return
	}
	rtls, err := TLSConfig(cfg.SchemaRegistry.TLS, "schema_registry")
	if err != nil {
		r.Fail("schema registry", err.Error(), "correct schema_registry.tls")
		return
	}
	reg, err := schema.NewRegistry(schema.RegistryOptions{URL: cfg.SchemaRegistry.URL, Username: cfg.SchemaRegistry.Username, Password: cfg.SchemaRegistry.Password, TLS: rtls})
	if err != nil {
		r.Fail("schema registry", err.Error(), "correct schema_registry.url")
		return
	}
	cctx, cancel := context.WithTimeout(ctx, CheckTimeout)
	defer cancel()
	url := registryURL(cfg)
	subjects, err := reg.Client().Subjects(cctx)
	if err != nil {
		detail, fix := explained(cfg, err, "check schema_registry.url, that the registry runs and is reachable from here, and schema_registry.tls")
		if !strings.Contains(detail, url) {
			detail = url + ": " + detail
		}
		r.Fail("schema registry", detail, fix)
		r.Skip("schema registry compatibility", "the registry is not reachable")
		return
	}
	r.Pass("schema registry", fmt.Sprintf("reachable at %s (%d subject(s))", url, len(subjects)))

	res := reg.Client().Compatibility(cctx)
	if len(res) == 0 || res[0].Err != nil {
		why := "no answer"
		if len(res) > 0 {
			why = res[0].Err.Error()
		}
		r.Warn("schema registry compatibility", "GET /config: "+why, "none needed to start; see docs/operations.md for what each compatibility mode allows")
		return
	}
	level := res[0].Level
	switch level {
	case sr.CompatNone:
		r.Pass("schema registry compatibility", "global mode NONE: every new schema version is accepted")
	default:
		r.Pass("schema registry compatibility", fmt.Sprintf("global mode %s: added and dropped columns register; a column type change is rejected "+
			"and stops sluice run until that subject's compatibility is relaxed (docs/operations.md)", level))
	}
}

// ------------------------------------------------------------- postgres --

type postgresChecker struct{}

// CheckSource checks what `sluice run` needs from Postgres, in the order
// it needs it; a failure that makes later checks meaningless skips them.
func (postgresChecker) CheckSource(ctx context.Context, c *CheckEnv) []string {
	cfg, r := c.Config, c.Report
	pgcfg, err := postgresConfig(cfg)
	if err != nil {
		r.FailErr("postgres source.dsn", err, "correct source.dsn and source.tls")
		return nil
	}
	cctx, cancel := context.WithTimeout(ctx, CheckTimeout)
	defer cancel()
	conn, err := pgcapture.Connect(cctx, pgcfg)
	if err != nil {
		r.FailErr("postgres connection", err, "")
		r.Skip("postgres: remaining checks", "not connected")
		return nil
	}
	defer conn.Close(context.WithoutCancel(ctx))
	si, err := pgcapture.ReadServerInfo(cctx, conn)
	if err != nil {
		r.Fail("postgres settings", err.Error(), "")
		return nil
	}
	where := fmt.Sprintf("%s:%d database %q user %q", pgcfg.Host, pgcfg.Port, si.Database, si.User)
	if si.Version < 100000 {
		r.Fail("postgres connection", where+": PostgreSQL "+si.VersionString, "use PostgreSQL 10 or newer")
		return nil
	}
	r.Pass("postgres connection", where+", PostgreSQL "+si.VersionString)
	role := pgx.Identifier{si.User}.Sanitize()

	if si.WALLevel == "logical" {
		r.Pass("postgres wal_level", "logical")
	} else {
		r.Fail("postgres wal_level", fmt.Sprintf("is %q, logical replication needs \"logical\"", si.WALLevel),
			"ALTER SYSTEM SET wal_level = logical; then restart Postgres")
	}

	systemID := ""
	if si.Replication {
		attr := "REPLICATION attribute"
		if si.Superuser {
			attr = "superuser (implies REPLICATION; a dedicated role is safer, see docs/operations.md)"
		}
		r.Pass("postgres role "+si.User, attr)
		// A replication connection is what pg_hba.conf may still refuse.
		if si.WALLevel == "logical" {
			if systemID, err = pgcapture.IdentifySystem(cctx, pgcfg); err != nil {
				r.FailErr("postgres replication connection", err, "")
			} else {
				r.Pass("postgres replication connection", "allowed; system identifier "+systemID)
			}
		}
	} else {
		r.Fail("postgres role "+si.User, "lacks the REPLICATION attribute", "ALTER ROLE "+role+" WITH REPLICATION")
	}

	slot, err := pgcapture.ReadSlot(cctx, conn, cfg.Source.Postgres.Slot, si.Version)
	if err != nil {
		r.Fail("postgres replication slot "+cfg.Source.Postgres.Slot, err.Error(), "")
	}
	checkSlotCapacity(r, si, slot)

	all, err := pgcapture.CheckTables(cctx, conn)
	if err != nil {
		r.Fail("postgres tables", err.Error(), "")
		return nil
	}
	var tables []pgcapture.TableCheck
	ids := make([]schema.TableID, len(all))
	f := &capture.Filter{Include: cfg.Source.Tables, Exclude: cfg.Source.ExcludeTables}
	for i, t := range all {
		ids[i] = t.ID
		if f.Match(t.ID) {
			tables = append(tables, t)
		}
	}
	checkFilter(r, "postgres source.tables", f, ids)
	if len(tables) == 0 {
		r.Fail("postgres source.tables", "no table matches",
			"check the table names (case-sensitive, <schema>.<table>) and that the user can see them")
	} else {
		checkTablePrivileges(r, tables, role)
		checkPrimaryKeys(r, tables)
		checkToast(cctx, r, conn, tables, cfg.Source.ExcludeColumns)
		checkPublication(cctx, r, conn, cfg, si, tables)
	}

	if cfg.Source.Postgres.HeartbeatInterval > 0 {
		if si.EmitMessage {
			r.Pass("postgres heartbeats", "EXECUTE on pg_logical_emit_message")
		} else {
			r.Warn("postgres heartbeats", "no EXECUTE on pg_logical_emit_message: idle slots then advance only with keepalives, and retain WAL while captured tables are quiet",
				"GRANT EXECUTE ON FUNCTION "+pgcapture.EmitMessageFunction(si.Version)+" TO "+role)
		}
	}

	if systemID == "" {
		// No replication connection (an earlier FAIL says why); the
		// control data gives the same identifier to roles allowed to
		// read it.
		systemID, _ = pgcapture.SystemIdentifier(cctx, conn)
	}
	checkSlotState(ctx, c, slot, systemID)
	checkSlotFailover(r, si, slot, cfg.Source.Postgres.Slot)

	topics := make([]string, len(tables))
	for i, t := range tables {
		topics[i] = pipeline.TableTopic(cfg.Name, t.ID)
	}
	return topics
}

// checkSlotCapacity checks that a new slot and a new walsender fit.
func checkSlotCapacity(r *CheckReport, si *pgcapture.ServerInfo, slot *pgcapture.SlotStatus) {
	slots := fmt.Sprintf("%d of %d in use", si.UsedReplicationSlots, si.MaxReplicationSlots)
	switch {
	case slot != nil:
		r.Pass("postgres max_replication_slots", slots+", including this instance's slot")
	case si.UsedReplicationSlots < si.MaxReplicationSlots:
		r.Pass("postgres max_replication_slots", slots+": room for this instance's slot")
	default:
		r.Fail("postgres max_replication_slots", slots+": no room for this instance's slot",
			fmt.Sprintf("ALTER SYSTEM SET max_replication_slots = %d; then restart Postgres (or drop unused slots: SELECT slot_name, active FROM pg_replication_slots; SELECT pg_drop_replication_slot('<name>'))", si.MaxReplicationSlots+1))
	}
	senders := fmt.Sprintf("%d of %d in use", si.UsedWALSenders, si.MaxWALSenders)
	switch {
	case slot != nil && slot.Active:
		r.Pass("postgres max_wal_senders", senders+", including the one streaming this instance's slot")
	case si.UsedWALSenders < si.MaxWALSenders:
		r.Pass("postgres max_wal_senders", senders+": room for this instance's replication connection")
	default:
		r.Fail("postgres max_wal_senders", senders+": no room for this instance's replication connection",
			fmt.Sprintf("ALTER SYSTEM SET max_wal_senders = %d; then restart Postgres", si.MaxWALSenders+1))
	}
	switch keep := si.MaxSlotWALKeepSize; keep {
	case "":
	case "-1":
		r.Pass("postgres max_slot_wal_keep_size", "-1 (unlimited): a stopped Sluice never loses its place, but its slot retains WAL until the disk fills; "+
			"monitor retained WAL (sluice status) or set a limit (docs/operations.md)")
	default:
		r.Pass("postgres max_slot_wal_keep_size", keep+": a slot retaining more WAL is invalidated (wal_status lost) and Sluice must start over with a snapshot; "+
			"keep Sluice stopped for less time than it takes to write that much WAL")
	}
}

func checkTablePrivileges(r *CheckReport, tables []pgcapture.TableCheck, role string) {
	ok := true
	usage := map[string]bool{}
	for _, t := range tables {
		name := pgx.Identifier{t.ID.Namespace, t.ID.Name}.Sanitize()
		switch {
		case !t.SchemaUsage:
			ok = false
			if !usage[t.ID.Namespace] {
				usage[t.ID.Namespace] = true
				r.Fail("postgres USAGE on schema "+t.ID.Namespace, "role "+role+" cannot use the schema, so it cannot read its tables",
					"GRANT USAGE ON SCHEMA "+pgx.Identifier{t.ID.Namespace}.Sanitize()+" TO "+role)
			}
			if !t.Select {
				r.Fail("postgres SELECT on "+t.ID.String(), "role "+role+" cannot read it (the snapshot reads every row)",
					"GRANT SELECT ON "+name+" TO "+role)
			}
		case !t.Select:
			ok = false
			r.Fail("postgres SELECT on "+t.ID.String(), "role "+role+" cannot read it (the snapshot reads every row)",
				"GRANT SELECT ON "+name+" TO "+role)
		}
	}
	if ok {
		r.Pass("postgres SELECT", fmt.Sprintf("on all %d captured table(s)", len(tables)))
	}
}

// checkPrimaryKeys warns about tables whose updates and deletes will be
// refused by Postgres itself, or arrive without before-images.
func checkPrimaryKeys(r *CheckReport, tables []pgcapture.TableCheck) {
	withKey := 0
	for _, t := range tables {
		name := pgx.Identifier{t.ID.Namespace, t.ID.Name}.Sanitize()
		what := "postgres primary key of " + t.ID.String()
		switch {
		case t.PrimaryKey && t.ReplicaIdentity != "n":
			withKey++
		case t.ReplicaIdentity == "n":
			r.Warn(what, "REPLICA IDENTITY NOTHING: once the table is in the publication, Postgres refuses its UPDATEs and DELETEs",
				"ALTER TABLE "+name+" REPLICA IDENTITY DEFAULT (with a primary key) or REPLICA IDENTITY FULL")
		case t.ReplicaIdentity == "f":
			r.Pass(what, "none; REPLICA IDENTITY FULL: full before-images, Kafka records have a null key")
		case t.ReplicaIdentity == "i":
			r.Pass(what, "none; REPLICA IDENTITY USING INDEX: the index's columns are the key")
		default:
			r.Warn(what, "none, and REPLICA IDENTITY DEFAULT: once the table is in the publication, Postgres refuses its UPDATEs and DELETEs "+
				"(\"cannot update table because it does not have a replica identity\"); Kafka records have a null key",
				"ALTER TABLE "+name+" ADD PRIMARY KEY (...), or ALTER TABLE "+name+" REPLICA IDENTITY FULL")
		}
	}
	if withKey > 0 {
		r.Pass("postgres primary keys", fmt.Sprintf("%d of %d captured table(s) have one", withKey, len(tables)))
	}
}

func checkPublication(ctx context.Context, r *CheckReport, conn *pgx.Conn, cfg *config.Config, si *pgcapture.ServerInfo, tables []pgcapture.TableCheck) {
	name := cfg.Source.Postgres.Publication
	what := "postgres publication " + name
	pub, err := pgcapture.ReadPublication(ctx, conn, name, si.Version)
	if err != nil {
		r.Fail(what, err.Error(), "")
		return
	}
	names := make([]string, len(tables))
	for i, t := range tables {
		names[i] = pgx.Identifier{t.ID.Namespace, t.ID.Name}.Sanitize()
	}
	create := "CREATE PUBLICATION " + pgx.Identifier{name}.Sanitize() + " FOR TABLE " + strings.Join(names, ", ")
	if pub == nil {
		// CREATE PUBLICATION ... FOR TABLE needs CREATE on the database
		// and ownership of every table.
		var notOwned []string
		for _, t := range tables {
			if !t.Owner {
				notOwned = append(notOwned, t.ID.String()+" (owner "+t.OwnerName+")")
			}
		}
		switch {
		case !si.CreateOnDatabase:
			r.Fail(what, "does not exist, and role "+si.User+" lacks CREATE on database "+si.Database+" to create it",
				"create it as the tables' owner: "+create+"; or GRANT CREATE ON DATABASE "+pgx.Identifier{si.Database}.Sanitize()+" TO "+pgx.Identifier{si.User}.Sanitize()+" and make that role own the tables")
		case len(notOwned) > 0:
			r.Fail(what, "does not exist, and role "+si.User+" cannot create it: it does not own "+strings.Join(notOwned, ", "),
				"create it as the tables' owner: "+create+"; or make Sluice's role own the tables")
		default:
			r.Pass(what, "does not exist yet; sluice run creates it (the role owns every captured table)")
		}
		return
	}
	var missing []string
	for _, t := range tables {
		if !pub.Publishes(t.ID) {
			missing = append(missing, pgx.Identifier{t.ID.Namespace, t.ID.Name}.Sanitize())
		}
	}
	var ops []string
	for _, o := range []struct {
		on   bool
		name string
	}{{pub.Insert, "insert"}, {pub.Update, "update"}, {pub.Delete, "delete"}, {pub.Truncate, "truncate"}} {
		if !o.on {
			ops = append(ops, o.name)
		}
	}
	switch {
	case len(missing) > 0:
		r.Warn(what, fmt.Sprintf("exists (owner %s) but does not publish %d captured table(s): %s; their rows are snapshotted but their changes never streamed",
			pub.Owner, len(missing), strings.Join(missing, ", ")),
			"as the publication's owner: ALTER PUBLICATION "+pgx.Identifier{name}.Sanitize()+" ADD TABLE "+strings.Join(missing, ", "))
	case len(ops) > 0:
		r.Warn(what, "does not publish "+strings.Join(ops, ", ")+": those changes are never captured",
			"ALTER PUBLICATION "+pgx.Identifier{name}.Sanitize()+" SET (publish = 'insert, update, delete, truncate')")
	default:
		r.Pass(what, fmt.Sprintf("exists (owner %s) and publishes all %d captured table(s)", pub.Owner, len(tables)))
	}
}

// checkSlotState compares the slot with the checkpoint the way
// postgres.Open does, so that every reason `sluice run` would refuse to
// resume shows up here first, with the same fix.
func checkSlotState(ctx context.Context, c *CheckEnv, slot *pgcapture.SlotStatus, systemID string) {
	cfg, r := c.Config, c.Report
	name := cfg.Source.Postgres.Slot
	what := "postgres replication slot " + name
	cp, cpErr := c.Checkpoint(ctx)
	note := ""
	if cpErr != nil {
		note = "; not compared with the checkpoint (" + cpErr.Error() + ")"
	}

	if cp != nil && cp.ServerID != "" && systemID != "" {
		if cp.ServerID != systemID {
			r.Fail("postgres server identity", fmt.Sprintf("the checkpoint belongs to server %s but source.dsn reaches server %s", cp.ServerID, systemID),
				"point source.dsn at the original server, or give this source a new name (a new name starts over with a snapshot)")
		} else {
			r.Pass("postgres server identity", "the checkpoint belongs to this server ("+systemID+")")
		}
	}

	needSnapshot := cfg.Snapshot.Mode != config.SnapshotNever && (cp == nil || !cp.SnapshotDone)
	if slot == nil {
		switch {
		case cpErr == nil && cp != nil && !needSnapshot:
			r.Fail(what, fmt.Sprintf("does not exist, but the checkpoint is at %s: the slot was dropped while Sluice was stopped, so changes after the checkpoint may be gone", cp.Position.LSN),
				"Sluice will not resume past a gap; to start over with a new snapshot, use a new name (or delete this name's record from the offsets topic)")
		default:
			r.Pass(what, "does not exist yet; sluice run creates it"+note)
		}
		return
	}
	if slot.Plugin != "pgoutput" {
		r.Fail(what, fmt.Sprintf("uses plugin %q", slot.Plugin), "Sluice needs a pgoutput slot; choose another slot name in source.postgres.slot")
		return
	}
	state := fmt.Sprintf("restart_lsn %s, confirmed_flush_lsn %s, retaining %s of WAL", slot.RestartLSN, slot.ConfirmedFlushLSN, humanBytes(slot.RetainedWAL))
	if slot.WALStatus != "" {
		state = "wal_status " + slot.WALStatus + ", " + state
	}
	if slot.Active {
		app := slot.ActiveApplication
		if app == "" {
			app = "unknown application"
		}
		state = fmt.Sprintf("active (pid %d, %s), %s", slot.ActivePID, app, state)
	} else {
		state = "inactive, " + state
	}
	cpKnown := cpErr == nil
	switch {
	case slot.Active && slot.ActiveApplication != "sluice":
		r.Fail(what, state+": in use by another connection",
			"stop the other consumer (another Sluice with the same name?) or choose another slot")
	case cpKnown && needSnapshot:
		// postgres.Open drops and recreates it: nothing was ever
		// acknowledged from a slot without a completed snapshot.
		r.Pass(what, state+"; no completed snapshot is checkpointed, so sluice run recreates the slot and takes the snapshot")
	case slot.WALStatus == "lost" && cpKnown:
		r.Fail(what, state+": Postgres removed WAL the slot still needed (max_slot_wal_keep_size)",
			"Sluice will not resume past a gap; drop the slot and start over with a new snapshot (new name or cleared checkpoint)")
	case slot.WALStatus == "lost":
		r.Warn(what, state+": Postgres removed WAL the slot still needed (max_slot_wal_keep_size); sluice run refuses to resume from a completed snapshot's checkpoint"+note,
			"drop the slot and start over with a new snapshot (new name or cleared checkpoint)")
	case cpKnown && cp != nil && slot.ConfirmedFlushLSN > cp.Position.LSN:
		r.Fail(what, fmt.Sprintf("%s: confirmed_flush_lsn is ahead of the checkpoint %s: another consumer advanced the slot", state, cp.Position.LSN),
			"make sure only one Sluice (and nothing else) uses this slot; to start over, use a new name")
	case slot.WALStatus == "unreserved":
		r.Warn(what, state+": WAL it needs is about to be removed (past max_slot_wal_keep_size)"+note,
			"start Sluice now, or raise max_slot_wal_keep_size (ALTER SYSTEM SET max_slot_wal_keep_size = '<size>'; SELECT pg_reload_conf())")
	case slot.Active:
		r.Pass(what, state+" (a running Sluice; a second one with this name would be refused)"+note)
	default:
		r.Pass(what, state+note)
	}
}

// humanBytes renders n bytes for people, with the exact count.
func humanBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB (%d bytes)", float64(n)/float64(div), "KMGTPE"[exp], n)
}
