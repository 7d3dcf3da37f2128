package config

import (
	"errors"
	"fmt"
	"math"
	"net"
	"net/url"
	"path"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Error is one configuration problem. Every error Load and Validate return
// is an *Error or joins several (errors.Join); find one with errors.As, or
// test with IsConfigError.
type Error struct {
	// Key is the configuration key, e.g. "source.type"; empty for a problem
	// with the file as a whole.
	Key string
	// Value is the offending value as given. It is never printed for a
	// secret key (source.dsn and the passwords), and Load never sets it for
	// one.
	Value string
	// Msg says what is wrong and what to do, e.g. "is not supported; use
	// postgres or mysql".
	Msg string

	err error // the underlying cause, if any: an *fs.PathError, a YAML error
}

// Error returns "config: <key>: <value> <msg>", e.g.
// `config: source.type: "oracle" is not supported; use postgres or mysql`.
func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString("config: ")
	if e.Key != "" {
		b.WriteString(e.Key + ": ")
	}
	if e.Value != "" && !isSecretKey(e.Key) {
		b.WriteString(strconv.Quote(e.Value) + " ")
	}
	b.WriteString(e.Msg)
	if e.err != nil {
		b.WriteString(": " + e.err.Error())
	}
	return b.String()
}

// Unwrap returns the underlying cause, so that for example
// errors.Is(err, fs.ErrNotExist) reports a missing configuration file.
func (e *Error) Unwrap() error { return e.err }

// IsConfigError reports whether err is, or joins, an *Error: a problem the
// user fixes in the configuration (exit status 2).
func IsConfigError(err error) bool {
	var e *Error
	return errors.As(err, &e)
}

var (
	nameRE = regexp.MustCompile(`^[A-Za-z0-9_.-]+$`)
	slotRE = regexp.MustCompile(`^[a-z0-9_]{1,63}$`)
)

// Validate checks every value and returns all problems found, joined, or nil.
// It expects the configuration as Load builds it: secret files already read
// into their values and name-derived defaults filled in.
func (c *Config) Validate() error {
	var p problems

	switch {
	case c.Name == "":
		p.add("name", "", "is required: it prefixes every topic and names the slot, publication and transactional.id; use letters, digits, '_', '.' and '-'")
	case !nameRE.MatchString(c.Name):
		p.add("name", c.Name, "may only contain letters, digits, '_', '.' and '-'")
	case c.Name == "." || c.Name == "..":
		p.add("name", c.Name, "is not a valid Kafka topic name; use letters or digits too")
	}

	p.oneOf("log.level", c.Log.Level, "debug", "info", "warn", "error")
	p.oneOf("log.format", c.Log.Format, "text", "json")

	c.validateSource(&p)

	p.oneOf("snapshot.mode", c.Snapshot.Mode, SnapshotInitial, SnapshotNever, SnapshotInitialOnly)
	if n := c.Snapshot.ChunkSize; n < 1 || n > 1_000_000 {
		p.add("snapshot.chunk_size", strconv.Itoa(n), "is out of range; use 1 to 1000000")
	}
	if n := c.Snapshot.Parallelism; n < 1 || n > 64 {
		p.add("snapshot.parallelism", strconv.Itoa(n), "is out of range; use 1 to 64")
	}
	p.nonNegative("snapshot.progress_interval", c.Snapshot.ProgressInterval, "0 disables progress logging")

	c.validateKafka(&p)
	c.validateTransforms(&p)
	c.validateRegistry(&p)

	if l := c.HTTP.Listen; l != "" {
		if _, _, err := net.SplitHostPort(l); err != nil {
			p.add("http.listen", l, "is not host:port, e.g. 127.0.0.1:8080; an empty value disables the HTTP server")
		}
	}
	p.positive("http.readiness_timeout", c.HTTP.ReadinessTimeout)
	p.nonNegative("http.liveness_timeout", c.HTTP.LivenessTimeout, "0 disables the liveness check")

	p.positive("checkpoint.interval", c.Checkpoint.Interval)
	p.nonNegative("checkpoint.linger", c.Checkpoint.Linger, "0 commits at every transaction boundary while caught up")
	if c.Checkpoint.MaxEvents < 1 {
		p.add("checkpoint.max_events", strconv.Itoa(c.Checkpoint.MaxEvents), "must be at least 1")
	}
	return p.err()
}

func (c *Config) validateSource(p *problems) {
	s := &c.Source
	switch s.Type {
	case SourcePostgres, SourceMySQL:
	case "":
		p.add("source.type", "", "is required; use postgres or mysql")
	default:
		p.add("source.type", s.Type, "is not supported; use postgres or mysql")
	}
	if s.DSN == "" {
		p.add("source.dsn", "", "is required; set source.dsn, source.dsn_file or SLUICE_SOURCE_DSN")
	}

	form := "<schema>.<table>"
	if s.Type == SourceMySQL {
		form = "<database>.<table>"
	}
	for _, key := range []string{"source.tables", "source.exclude_tables"} {
		list := s.Tables
		if key == "source.exclude_tables" {
			list = s.ExcludeTables
		}
		for _, pat := range list {
			if !validPattern(pat, 2) {
				p.add(key, pat, fmt.Sprintf("is not a %s pattern: exactly one '.', with globs such as public.* allowed (path.Match syntax, case-sensitive)", form))
			}
		}
	}
	for _, pat := range s.ExcludeColumns {
		if !validPattern(pat, 3) {
			p.add("source.exclude_columns", pat, fmt.Sprintf("is not a %s.<column> name: exactly two '.'", form))
		}
	}

	for _, op := range s.SkippedOperations {
		switch op {
		case "c", "u", "d", "t":
		case "none":
			if len(s.SkippedOperations) > 1 {
				p.add("source.skipped_operations", strings.Join(s.SkippedOperations, ","), "lists none with other operations; use [none] (or []) to skip nothing, or list only c, u, d and t")
			}
		default:
			p.add("source.skipped_operations", op, "is not an operation; use c (create), u (update), d (delete), t (truncate), or none to skip nothing")
		}
	}

	switch s.Type {
	case SourcePostgres:
		if !slotRE.MatchString(s.Postgres.Slot) {
			p.add("source.postgres.slot", s.Postgres.Slot, "is not a valid replication slot name; use 1 to 63 characters of a-z, 0-9 and _ (the default is derived from name)")
		}
		if n := len(s.Postgres.Publication); n == 0 || n > 63 || strings.ContainsRune(s.Postgres.Publication, 0) {
			p.add("source.postgres.publication", s.Postgres.Publication, "is not a valid publication name; use 1 to 63 bytes (the default is derived from name)")
		}
		p.positive("source.postgres.status_interval", s.Postgres.StatusInterval)
	case SourceMySQL:
		if s.MySQL.ServerID == 0 {
			p.add("source.mysql.server_id", "", "is required for mysql: a number from 1 to 4294967295, unique among the server's replicas")
		}
		if t := s.MySQL.SignalTable; !validPattern(t, 2) || strings.ContainsAny(t, "*?[") {
			p.add("source.mysql.signal_table", t, "is not a <database>.<table> name (exactly one '.', no globs)")
		}
	}
	p.nonNegative("source.postgres.heartbeat_interval", s.Postgres.HeartbeatInterval, "0 disables heartbeats")
	p.nonNegative("source.mysql.heartbeat_interval", s.MySQL.HeartbeatInterval, "0 disables heartbeats")
	p.tls("source.tls", s.TLS)
}

// validPattern reports whether pat is exactly parts non-empty parts joined
// by '.' and is a well-formed path.Match pattern.
func validPattern(pat string, parts int) bool {
	split := strings.Split(pat, ".")
	if len(split) != parts || slices.Contains(split, "") {
		return false
	}
	_, err := path.Match(pat, "")
	return err == nil
}

func (c *Config) validateKafka(p *problems) {
	k := &c.Kafka
	for _, b := range k.Brokers {
		host, port, err := net.SplitHostPort(b)
		if err != nil || host == "" || port == "" || strings.Contains(b, "/") {
			p.add("kafka.brokers", b, "is not a host:port broker address, e.g. 127.0.0.1:9092 (an empty list starts the embedded development broker)")
		}
	}
	if k.Partitions < 1 {
		p.add("kafka.partitions", strconv.Itoa(k.Partitions), "must be at least 1")
	}
	if k.ReplicationFactor < 1 && k.ReplicationFactor != -1 {
		p.add("kafka.replication_factor", strconv.Itoa(k.ReplicationFactor), "must be at least 1, or -1 for the broker's default")
	}
	p.positive("kafka.transaction_timeout", k.TransactionTimeout)
	if k.TransactionTimeout > math.MaxInt32*time.Millisecond {
		// The protocol carries it as int32 milliseconds.
		p.add("kafka.transaction_timeout", k.TransactionTimeout.String(), "is longer than Kafka accepts (2147483647ms); use the brokers' transaction.max.timeout.ms or less")
	}
	p.positive("kafka.delivery_timeout", k.DeliveryTimeout)
	if k.MaxRecordBytes < 1 {
		p.add("kafka.max_record_bytes", strconv.Itoa(k.MaxRecordBytes), "must be at least 1 (the broker default is 1048576)")
	}
	switch k.Compression {
	case "lz4", "zstd", "snappy", "gzip", "none":
	default:
		p.add("kafka.compression", k.Compression, "must be none, lz4, zstd, snappy or gzip")
	}

	sasl := &k.SASL
	switch sasl.Mechanism {
	case "":
		if sasl.Username != "" || sasl.Password != "" {
			p.add("kafka.sasl.mechanism", "", "is required when kafka.sasl.username or password is set; use PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512")
		}
	case "PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512":
		if sasl.Username == "" {
			p.add("kafka.sasl.username", "", "is required with kafka.sasl.mechanism")
		}
		if sasl.Password == "" {
			p.add("kafka.sasl.password", "", "is required with kafka.sasl.mechanism; set kafka.sasl.password or kafka.sasl.password_file")
		}
	default:
		p.add("kafka.sasl.mechanism", sasl.Mechanism, "is not supported; use PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512, or leave it empty for no SASL")
	}
	p.tls("kafka.tls", k.TLS)
}

func (c *Config) validateRegistry(p *problems) {
	r := &c.SchemaRegistry
	if r.URL != "" {
		u, err := url.Parse(r.URL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			p.add("schema_registry.url", redactURL(r.URL), "is not an http:// or https:// URL (an empty value starts the embedded development registry)")
		}
	}
	switch {
	case r.Username != "" && r.Password == "":
		p.add("schema_registry.password", "", "is required with schema_registry.username; set schema_registry.password or schema_registry.password_file")
	case r.Username == "" && r.Password != "":
		p.add("schema_registry.username", "", "is required with schema_registry.password")
	}
	p.tls("schema_registry.tls", r.TLS)
}

// problems collects validation errors.
type problems []error

func (p *problems) add(key, value, msg string) {
	if isSecretKey(key) {
		value = ""
	}
	*p = append(*p, &Error{Key: key, Value: value, Msg: msg})
}

func (p *problems) err() error { return errors.Join(*p...) }

func (p *problems) oneOf(key, value string, allowed ...string) {
	if slices.Contains(allowed, value) {
		return
	}
	list := strings.Join(allowed[:len(allowed)-1], ", ") + " or " + allowed[len(allowed)-1]
	if value == "" {
		p.add(key, "", "is empty; use "+list)
		return
	}
	p.add(key, value, "is not supported; use "+list)
}

func (p *problems) nonNegative(key string, d time.Duration, zero string) {
	if d < 0 {
		msg := "is negative; use a duration such as 10s"
		if zero != "" {
			msg += " (" + zero + ")"
		}
		p.add(key, d.String(), msg)
	}
}

func (p *problems) positive(key string, d time.Duration) {
	if d <= 0 {
		p.add(key, d.String(), "must be positive, e.g. 1s")
	}
}

// tls checks one TLS section. Files are not opened here; `sluice check` and
// the connection do that.
func (p *problems) tls(prefix string, t TLS) {
	if !t.Enabled {
		var set []string
		for name, on := range map[string]bool{
			"ca_file":              t.CAFile != "",
			"cert_file":            t.CertFile != "",
			"key_file":             t.KeyFile != "",
			"server_name":          t.ServerName != "",
			"insecure_skip_verify": t.InsecureSkipVerify,
		} {
			if on {
				set = append(set, prefix+"."+name)
			}
		}
		if len(set) > 0 {
			slices.Sort(set)
			// Refuse rather than silently connect without TLS.
			p.add(prefix+".enabled", "", fmt.Sprintf("is false but %s is set; set %s.enabled: true or remove them", strings.Join(set, ", "), prefix))
		}
	}
	switch {
	case t.CertFile != "" && t.KeyFile == "":
		p.add(prefix+".key_file", "", "is required with "+prefix+".cert_file")
	case t.CertFile == "" && t.KeyFile != "":
		p.add(prefix+".cert_file", "", "is required with "+prefix+".key_file")
	}
}
