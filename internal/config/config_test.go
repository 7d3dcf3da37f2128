package config_test

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sluicecdc/sluice/internal/config"
)

// clearEnv removes every SLUICE_ variable for the duration of the test, so
// that the developer's environment cannot change the outcome.
func clearEnv(t *testing.T) {
	t.Helper()
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(k, config.EnvPrefix) {
			t.Setenv(k, "") // restores the old value after the test
			os.Unsetenv(k)
		}
	}
}

func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// load writes yaml to a file and loads it with the given environment.
func load(t *testing.T, yaml string, env map[string]string) (*config.Config, error) {
	t.Helper()
	clearEnv(t)
	for k, v := range env {
		t.Setenv(k, v)
	}
	return config.Load(writeFile(t, "config.yaml", yaml), true)
}

// errorsOf returns every *config.Error in err's tree.
func errorsOf(err error) []*config.Error {
	if err == nil {
		return nil
	}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		var out []*config.Error
		for _, e := range j.Unwrap() {
			out = append(out, errorsOf(e)...)
		}
		return out
	}
	var ce *config.Error
	if errors.As(err, &ce) {
		return []*config.Error{ce}
	}
	return nil
}

func keysOf(err error) []string {
	var keys []string
	for _, e := range errorsOf(err) {
		keys = append(keys, e.Key)
	}
	return keys
}

const minimal = `
name: inv
source:
  type: postgres
  dsn: postgres://u:pw@127.0.0.1/app
`

const minimalMySQL = `
name: inv
source:
  type: mysql
  dsn: mysql://u:pw@127.0.0.1:3306/
  mysql: {server_id: 7}
`

func TestExampleConfigLoads(t *testing.T) {
	clearEnv(t)
	c, err := config.Load("../../config.yaml", true)
	if err != nil {
		t.Fatalf("Load(config.yaml): %v", err)
	}
	if err := c.Validate(); err != nil {
		t.Fatalf("Validate: %v", err)
	}
	checks := []struct {
		name      string
		got, want any
	}{
		{"name", c.Name, "inventory"},
		{"source.type", c.Source.Type, config.SourcePostgres},
		{"source.dsn", c.Source.DSN, "postgres://sluice:secret@127.0.0.1:5432/app"},
		{"source.tables", c.Source.Tables, []string{"public.orders", "public.customers"}},
		{"source.postgres.slot", c.Source.Postgres.Slot, "sluice_inventory"},
		{"source.postgres.publication", c.Source.Postgres.Publication, "sluice_inventory"},
		{"snapshot.mode", c.Snapshot.Mode, config.SnapshotInitial},
		{"kafka.brokers", c.Kafka.Brokers, []string{"127.0.0.1:9092"}},
		{"kafka.exactly_once", c.Kafka.ExactlyOnce, true},
		{"schema_registry.url", c.SchemaRegistry.URL, "http://127.0.0.1:8081"},
		{"http.listen", c.HTTP.Listen, "127.0.0.1:8080"},
	}
	for _, ch := range checks {
		if !reflect.DeepEqual(ch.got, ch.want) {
			t.Errorf("%s = %#v, want %#v", ch.name, ch.got, ch.want)
		}
	}
	if k, r := c.Embedded(); k || r {
		t.Errorf("Embedded() = %v, %v; want false, false", k, r)
	}
}

// wantDefaults is minimal with every documented default.
func wantDefaults() config.Config {
	return config.Config{
		Name: "inv",
		Log:  config.Log{Level: "info", Format: "text"},
		Source: config.Source{
			Type:              "postgres",
			DSN:               "postgres://u:pw@127.0.0.1/app",
			Tables:            []string{},
			ExcludeTables:     []string{},
			ExcludeColumns:    []string{},
			SkippedOperations: []string{"t"},
			Postgres: config.PostgresSource{
				Slot:              "sluice_inv",
				Publication:       "sluice_inv",
				HeartbeatInterval: 10 * time.Second,
				StatusInterval:    10 * time.Second,
			},
			MySQL: config.MySQLSource{HeartbeatInterval: 10 * time.Second, SignalTable: "sluice.sluice_signal"},
		},
		Snapshot: config.Snapshot{Mode: "initial", ChunkSize: 10000, Parallelism: 4, ProgressInterval: 10 * time.Second},
		Kafka: config.Kafka{
			Brokers:            []string{},
			ExactlyOnce:        true,
			TransactionTimeout: 60 * time.Second,
			Tombstones:         true,
			Partitions:         1,
			ReplicationFactor:  -1,
			DeliveryTimeout:    2 * time.Minute,
			MaxRecordBytes:     1048576,
			Compression:        "none",
			ClientID:           "sluice-inv",
		},
		HTTP:       config.HTTP{Listen: "127.0.0.1:8080", ReadinessTimeout: time.Minute, LivenessTimeout: 5 * time.Minute},
		Checkpoint: config.Checkpoint{Interval: time.Second, MaxEvents: 250000, Linger: 10 * time.Millisecond},
	}
}

func TestDefaults(t *testing.T) {
	want := wantDefaults()

	t.Run("file", func(t *testing.T) {
		c, err := load(t, minimal, nil)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(*c, want) {
			t.Errorf("got\n%s\nwant\n%s", c.Redacted(), want.Redacted())
		}
		if k, r := c.Embedded(); !k || !r {
			t.Errorf("Embedded() = %v, %v; want true, true", k, r)
		}
	})

	t.Run("environment only, no file", func(t *testing.T) {
		clearEnv(t)
		t.Setenv("SLUICE_NAME", "inv")
		t.Setenv("SLUICE_SOURCE_TYPE", "postgres")
		t.Setenv("SLUICE_SOURCE_DSN", "postgres://u:pw@127.0.0.1/app")
		c, err := config.Load(filepath.Join(t.TempDir(), "config.yaml"), false)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(*c, want) {
			t.Errorf("got\n%s\nwant\n%s", c.Redacted(), want.Redacted())
		}
	})

	t.Run("sections written without values keep their defaults", func(t *testing.T) {
		c, err := load(t, minimal+"  postgres:\n  tls:\nkafka:\n", nil)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(*c, want) {
			t.Errorf("got\n%s\nwant\n%s", c.Redacted(), want.Redacted())
		}
	})
}

func TestMissingFile(t *testing.T) {
	clearEnv(t)
	missing := filepath.Join(t.TempDir(), "nope.yaml")
	_, err := config.Load(missing, true)
	if !config.IsConfigError(err) || !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("explicit missing file: err = %v; want a config error wrapping fs.ErrNotExist", err)
	}
	if !strings.Contains(err.Error(), missing) {
		t.Errorf("error %q does not name the path", err)
	}

	// Not explicit: only the environment, which lacks the required keys.
	_, err = config.Load(missing, false)
	if got := keysOf(err); !slices.Contains(got, "name") || !slices.Contains(got, "source.type") {
		t.Errorf("keys = %v; want name and source.type among them", got)
	}
}

func TestInvalidYAML(t *testing.T) {
	_, err := load(t, "name: [unclosed\n", nil)
	if !config.IsConfigError(err) {
		t.Fatalf("err = %v; want a config error", err)
	}
}

func TestEnvironmentOverrides(t *testing.T) {
	tests := []struct {
		name  string
		yaml  string
		env   map[string]string
		check func(*config.Config) (got, want any)
	}{
		{"nested key absent from file", minimal, map[string]string{"SLUICE_SOURCE_POSTGRES_SLOT": "other_slot"},
			func(c *config.Config) (any, any) { return c.Source.Postgres.Slot, "other_slot" }},
		{"list, comma-separated", minimal, map[string]string{"SLUICE_KAFKA_BROKERS": "a:1,b:2"},
			func(c *config.Config) (any, any) { return c.Kafka.Brokers, []string{"a:1", "b:2"} }},
		{"list with spaces", minimal, map[string]string{"SLUICE_SOURCE_TABLES": " public.a , public.b "},
			func(c *config.Config) (any, any) { return c.Source.Tables, []string{"public.a", "public.b"} }},
		{"bool", minimal, map[string]string{"SLUICE_KAFKA_EXACTLY_ONCE": "false"},
			func(c *config.Config) (any, any) { return c.Kafka.ExactlyOnce, false }},
		{"duration", minimal, map[string]string{"SLUICE_CHECKPOINT_INTERVAL": "5s"},
			func(c *config.Config) (any, any) { return c.Checkpoint.Interval, 5 * time.Second }},
		{"transaction timeout", minimal + "kafka: {transaction_timeout: 5m}\n", map[string]string{"SLUICE_KAFKA_TRANSACTION_TIMEOUT": "90s"},
			func(c *config.Config) (any, any) { return c.Kafka.TransactionTimeout, 90 * time.Second }},
		{"transaction timeout in the file", minimal + "kafka: {transaction_timeout: 5m}\n", nil,
			func(c *config.Config) (any, any) { return c.Kafka.TransactionTimeout, 5 * time.Minute }},
		{"int", minimal, map[string]string{"SLUICE_SNAPSHOT_PARALLELISM": "8"},
			func(c *config.Config) (any, any) { return c.Snapshot.Parallelism, 8 }},
		{"uint32", minimalMySQL, map[string]string{"SLUICE_SOURCE_MYSQL_SERVER_ID": "4294967295"},
			func(c *config.Config) (any, any) { return c.Source.MySQL.ServerID, uint32(4294967295) }},
		{"registry url", minimal, map[string]string{"SLUICE_SCHEMA_REGISTRY_URL": "http://sr:8081"},
			func(c *config.Config) (any, any) { return c.SchemaRegistry.URL, "http://sr:8081" }},
		{"environment beats file", minimal + "kafka: {brokers: [file:9092]}\n", map[string]string{"SLUICE_KAFKA_BROKERS": "env:9092"},
			func(c *config.Config) (any, any) { return c.Kafka.Brokers, []string{"env:9092"} }},
		{"empty brokers select the embedded broker", minimal + "kafka: {brokers: [file:9092]}\n", map[string]string{"SLUICE_KAFKA_BROKERS": ""},
			func(c *config.Config) (any, any) { k, _ := c.Embedded(); return k, true }},
		{"empty url selects the embedded registry", minimal + "schema_registry: {url: http://sr:8081}\n", map[string]string{"SLUICE_SCHEMA_REGISTRY_URL": ""},
			func(c *config.Config) (any, any) { _, r := c.Embedded(); return r, true }},
		{"empty listen disables http", minimal, map[string]string{"SLUICE_HTTP_LISTEN": ""},
			func(c *config.Config) (any, any) { return c.HTTP.Listen, "" }},
		{"an empty listen in the file disables http", minimal + "http: {listen: \"\"}\n", nil,
			func(c *config.Config) (any, any) { return c.HTTP.Listen, "" }},
		{"liveness timeout", minimal, map[string]string{"SLUICE_HTTP_LIVENESS_TIMEOUT": "30s"},
			func(c *config.Config) (any, any) { return c.HTTP.LivenessTimeout, 30 * time.Second }},
		{"liveness check disabled", minimal + "http: {liveness_timeout: 0s}\n", nil,
			func(c *config.Config) (any, any) { return c.HTTP.LivenessTimeout, time.Duration(0) }},
		{"derived names follow an overridden name", minimal, map[string]string{"SLUICE_NAME": "Shop-EU.v2"},
			func(c *config.Config) (any, any) {
				return []string{c.Source.Postgres.Slot, c.Source.Postgres.Publication, c.Kafka.ClientID},
					[]string{"sluice_shop_eu_v2", "sluice_shop_eu_v2", "sluice-Shop-EU.v2"}
			}},
		{"enumerations are case-insensitive", minimal, map[string]string{"SLUICE_LOG_LEVEL": "DEBUG", "SLUICE_SOURCE_TYPE": "Postgres"},
			func(c *config.Config) (any, any) { return c.Log.Level + " " + c.Source.Type, "debug postgres" }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := load(t, tt.yaml, tt.env)
			if err != nil {
				t.Fatal(err)
			}
			if got, want := tt.check(c); !reflect.DeepEqual(got, want) {
				t.Errorf("got %#v, want %#v", got, want)
			}
		})
	}
}

func TestSecretFiles(t *testing.T) {
	dsn := writeFile(t, "dsn", "  postgres://u:filesecret@db/app \n")
	pw := writeFile(t, "pw", "pass word\n")
	empty := writeFile(t, "empty", "\n")
	missing := filepath.Join(t.TempDir(), "missing")

	t.Run("values are read and trimmed", func(t *testing.T) {
		c, err := load(t, fmt.Sprintf(`
name: inv
source: {type: postgres, dsn_file: %q}
kafka: {sasl: {mechanism: SCRAM-SHA-512, username: u, password_file: %q}}
schema_registry: {url: "https://sr:8081", username: u, password_file: %q}
`, dsn, pw, pw), nil)
		if err != nil {
			t.Fatal(err)
		}
		got := []string{c.Source.DSN, c.Kafka.SASL.Password, c.SchemaRegistry.Password}
		want := []string{"postgres://u:filesecret@db/app", "pass word", "pass word"}
		if !slices.Equal(got, want) {
			t.Errorf("got %q, want %q", got, want)
		}
	})

	tests := []struct {
		name    string
		yaml    string
		env     map[string]string
		wantKey string
		wantErr error
	}{
		{"dsn and dsn_file", fmt.Sprintf("name: inv\nsource: {type: postgres, dsn: x, dsn_file: %q}\n", dsn), nil, "source.dsn_file", nil},
		{"dsn from env and dsn_file", fmt.Sprintf("name: inv\nsource: {type: postgres, dsn_file: %q}\n", dsn),
			map[string]string{"SLUICE_SOURCE_DSN": "postgres://e"}, "source.dsn_file", nil},
		{"missing dsn_file", fmt.Sprintf("name: inv\nsource: {type: postgres, dsn_file: %q}\n", missing), nil, "source.dsn_file", fs.ErrNotExist},
		{"empty dsn_file", fmt.Sprintf("name: inv\nsource: {type: postgres, dsn_file: %q}\n", empty), nil, "source.dsn_file", nil},
		{"sasl password and password_file", minimal + fmt.Sprintf("kafka: {sasl: {mechanism: PLAIN, username: u, password: p, password_file: %q}}\n", pw),
			nil, "kafka.sasl.password_file", nil},
		{"registry password and password_file", minimal + fmt.Sprintf("schema_registry: {username: u, password: p, password_file: %q}\n", pw),
			nil, "schema_registry.password_file", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := load(t, tt.yaml, tt.env)
			if got := keysOf(err); !slices.Equal(got, []string{tt.wantKey}) {
				t.Fatalf("error keys = %v (err %v); want [%s]", got, err, tt.wantKey)
			}
			if tt.wantErr != nil && !errors.Is(err, tt.wantErr) {
				t.Errorf("err = %v; want it to wrap %v", err, tt.wantErr)
			}
		})
	}
}

// TestSecretsNeverPrinted checks errors, Redacted and every fmt and slog
// rendering for the secret values.
func TestSecretsNeverPrinted(t *testing.T) {
	secrets := []string{"dsn-s3cret", "sasl-s3cret", "sr-s3cret", "url-s3cret"}
	sasl := writeFile(t, "sasl", "sasl-s3cret\n")
	valid := fmt.Sprintf(`
name: inv
source: {type: postgres, dsn: "postgres://u:dsn-s3cret@db/app"}
kafka: {brokers: ["k:9092"], sasl: {mechanism: PLAIN, username: u, password_file: %q}}
schema_registry: {url: "http://u:url-s3cret@sr:8081", username: u, password: sr-s3cret}
`, sasl)

	c, err := load(t, valid, nil)
	if err != nil {
		t.Fatal(err)
	}
	if c.Source.DSN != "postgres://u:dsn-s3cret@db/app" || c.Kafka.SASL.Password != "sasl-s3cret" {
		t.Fatalf("secrets not loaded: %q %q", c.Source.DSN, c.Kafka.SASL.Password)
	}
	var logged bytes.Buffer
	slog.New(slog.NewJSONHandler(&logged, nil)).Info("start", "config", c)
	slog.New(slog.NewTextHandler(&logged, nil)).Info("start", "config", *c, "source", c.Source)
	renderings := map[string]string{
		"Redacted":   c.Redacted(),
		"%v":         fmt.Sprintf("%v", c),
		"%+v value":  fmt.Sprintf("%+v", *c),
		"%#v":        fmt.Sprintf("%#v", *c),
		"%v source":  fmt.Sprintf("%v", c.Source),
		"%+v kafka":  fmt.Sprintf("%+v", c.Kafka),
		"%#v sasl":   fmt.Sprintf("%#v", c.Kafka.SASL),
		"%v kafka":   fmt.Sprint(c.Kafka),
		"%v registy": fmt.Sprint(c.SchemaRegistry),
		"slog":       logged.String(),
	}
	if !strings.Contains(c.Redacted(), `"***"`) {
		t.Errorf("Redacted() shows no masked secret:\n%s", c.Redacted())
	}

	invalid := []struct{ name, yaml string }{
		{"dsn and dsn_file", `
name: inv
source: {type: postgres, dsn: "postgres://u:dsn-s3cret@db/app", dsn_file: /x}`},
		{"dsn of the wrong type", `
name: inv
source: {type: postgres, dsn: [dsn-s3cret]}`},
		{"passwords without their users", `
name: inv
source: {type: postgres, dsn: dsn-s3cret}
kafka: {sasl: {password: sasl-s3cret}}
schema_registry: {url: "ftp://u:url-s3cret@sr", password: sr-s3cret}`},
		{"unknown key near a secret", `
name: inv
source: {type: postgres, dsn: dsn-s3cret, dsnn: dsn-s3cret}`},
	}
	for _, tt := range invalid {
		_, err := load(t, tt.yaml, nil)
		if err == nil {
			t.Fatalf("%s: no error", tt.name)
		}
		renderings["error: "+tt.name] = err.Error()
	}
	_, err = load(t, minimal, map[string]string{"SLUICE_SOURCE_DSN": "dsn-s3cret", "SLUICE_SCHEMA_REGISTRY_URL": "url-s3cret@@%"})
	if err == nil {
		t.Fatal("bad url from env: no error")
	}
	renderings["error: env"] = err.Error()

	for name, text := range renderings {
		for _, s := range secrets {
			if strings.Contains(text, s) {
				t.Errorf("%s shows secret %q:\n%s", name, s, text)
			}
		}
	}
}

func TestRedactedRoundTrip(t *testing.T) {
	clearEnv(t)
	c, err := config.Load("../../config.yaml", true)
	if err != nil {
		t.Fatal(err)
	}
	dump := strings.Replace(c.Redacted(), `"***"`, strconv.Quote(c.Source.DSN), 1)
	back, err := config.Load(writeFile(t, "dump.yaml", dump), true)
	if err != nil {
		t.Fatalf("reloading Redacted():\n%s\n%v", dump, err)
	}
	if !reflect.DeepEqual(back, c) {
		t.Errorf("reloaded\n%s\nwant\n%s", back.Redacted(), c.Redacted())
	}
}

func TestUnknownKeys(t *testing.T) {
	tests := []struct {
		name    string
		yaml    string
		wantKey string
		wantFix string // the suggested key; empty: none expected
	}{
		{"top level", minimal + "nmae: x\n", "nmae", "name"},
		{"nested", minimal + "kafka: {broker: [a:1]}\n", "kafka.broker", "kafka.brokers"},
		{"transposed", minimal + "checkpoint: {intervla: 1s}\n", "checkpoint.intervla", "checkpoint.interval"},
		{"deeply nested", minimal + "  postgres: {solt: x}\n", "source.postgres.solt", "source.postgres.slot"},
		{"longer name of a key", minimal + "  postgres: {slot_name: x}\n", "source.postgres.slot_name", "source.postgres.slot"},
		{"in the wrong section", minimal + "brokers: [a:1]\n", "brokers", "kafka.brokers"},
		{"wrong level", minimal + "  slot: x\n", "source.slot", "source.postgres.slot"},
		{"unknown section", minimal + "kafka: {sasl: {oauth: {token: x}}}\n", "kafka.sasl.oauth", ""},
		{"key of a different case", minimal + "Kafka: {Exactly_Once: false, Retries: 3}\n", "kafka.retries", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := load(t, tt.yaml, nil)
			errs := errorsOf(err)
			if len(errs) != 1 || errs[0].Key != tt.wantKey {
				t.Fatalf("errors %v; want one with key %s", err, tt.wantKey)
			}
			if tt.wantFix != "" && !strings.Contains(errs[0].Msg, "did you mean "+tt.wantFix+"?") {
				t.Errorf("message %q does not suggest %s", errs[0].Msg, tt.wantFix)
			}
			if tt.wantFix == "" && strings.Contains(errs[0].Msg, "did you mean") {
				t.Errorf("message %q suggests a key; want none", errs[0].Msg)
			}
		})
	}
}

func TestValidation(t *testing.T) {
	tests := []struct {
		name    string
		yaml    string
		env     map[string]string
		wantKey string
	}{
		{"name required", "source: {type: postgres, dsn: x}\n", nil, "name"},
		{"name charset", minimal, map[string]string{"SLUICE_NAME": "in v"}, "name"},
		{"name is not a topic", minimal, map[string]string{"SLUICE_NAME": ".."}, "name"},
		{"log level", minimal + "log: {level: verbose}\n", nil, "log.level"},
		{"log format", minimal + "log: {format: xml}\n", nil, "log.format"},
		{"source type required", "name: inv\nsource: {dsn: x}\n", nil, "source.type"},
		{"source type unsupported", "name: inv\nsource: {type: oracle, dsn: x}\n", nil, "source.type"},
		{"dsn required", "name: inv\nsource: {type: postgres}\n", nil, "source.dsn"},
		{"table pattern without schema", minimal + "  tables: [orders]\n", nil, "source.tables"},
		{"table pattern with two dots", minimal + "  tables: [db.public.orders]\n", nil, "source.tables"},
		{"table pattern malformed glob", minimal + "  tables: ['public.[a-']\n", nil, "source.tables"},
		{"exclude table pattern", minimal + "  exclude_tables: ['public.']\n", nil, "source.exclude_tables"},
		{"exclude column with one dot", minimal + "  exclude_columns: [customers.ssn]\n", nil, "source.exclude_columns"},
		{"skipped operation unknown", minimal + "  skipped_operations: [r]\n", nil, "source.skipped_operations"},
		{"skipped operation upper case", minimal + "  skipped_operations: [T]\n", nil, "source.skipped_operations"},
		{"skipped none with others", minimal + "  skipped_operations: [none, t]\n", nil, "source.skipped_operations"},
		{"skipped operation from env", minimal, map[string]string{"SLUICE_SOURCE_SKIPPED_OPERATIONS": "c,x"}, "source.skipped_operations"},
		{"slot charset", minimal + "  postgres: {slot: My-Slot}\n", nil, "source.postgres.slot"},
		{"derived slot too long", minimal + "  postgres: {publication: p}\n", map[string]string{"SLUICE_NAME": strings.Repeat("n", 60)}, "source.postgres.slot"},
		{"publication too long", minimal + "  postgres: {publication: " + strings.Repeat("p", 64) + "}\n", nil, "source.postgres.publication"},
		{"status interval zero", minimal + "  postgres: {status_interval: 0}\n", nil, "source.postgres.status_interval"},
		{"heartbeat negative", minimal + "  postgres: {heartbeat_interval: -1s}\n", nil, "source.postgres.heartbeat_interval"},
		{"mysql server_id required", "name: inv\nsource: {type: mysql, dsn: x}\n", nil, "source.mysql.server_id"},
		{"mysql server_id zero", minimalMySQL, map[string]string{"SLUICE_SOURCE_MYSQL_SERVER_ID": "0"}, "source.mysql.server_id"},
		{"mysql heartbeat negative", minimalMySQL, map[string]string{"SLUICE_SOURCE_MYSQL_HEARTBEAT_INTERVAL": "-5s"}, "source.mysql.heartbeat_interval"},
		{"snapshot mode", minimal + "snapshot: {mode: always}\n", nil, "snapshot.mode"},
		{"parallelism zero", minimal + "snapshot: {parallelism: 0}\n", nil, "snapshot.parallelism"},
		{"parallelism too high", minimal + "snapshot: {parallelism: 65}\n", nil, "snapshot.parallelism"},
		{"progress interval negative", minimal + "snapshot: {progress_interval: -1m}\n", nil, "snapshot.progress_interval"},
		{"broker address", minimal + "kafka: {brokers: ['kafka://k:9092']}\n", nil, "kafka.brokers"},
		{"broker without port", minimal + "kafka: {brokers: [k]}\n", nil, "kafka.brokers"},
		{"partitions", minimal + "kafka: {partitions: 0}\n", nil, "kafka.partitions"},
		{"replication factor", minimal + "kafka: {replication_factor: 0}\n", nil, "kafka.replication_factor"},
		{"delivery timeout", minimal + "kafka: {delivery_timeout: 0s}\n", nil, "kafka.delivery_timeout"},
		{"transaction timeout zero", minimal + "kafka: {transaction_timeout: 0s}\n", nil, "kafka.transaction_timeout"},
		{"transaction timeout negative", minimal, map[string]string{"SLUICE_KAFKA_TRANSACTION_TIMEOUT": "-1m"}, "kafka.transaction_timeout"},
		{"transaction timeout beyond the protocol", minimal + "kafka: {transaction_timeout: 600h}\n", nil, "kafka.transaction_timeout"},
		{"transaction timeout without unit", minimal + "kafka: {transaction_timeout: 60}\n", nil, "kafka.transaction_timeout"},
		{"transaction timeout empty variable", minimal, map[string]string{"SLUICE_KAFKA_TRANSACTION_TIMEOUT": ""}, "kafka.transaction_timeout"},
		{"max record bytes", minimal + "kafka: {max_record_bytes: 0}\n", nil, "kafka.max_record_bytes"},
		{"compression", minimal + "kafka: {compression: brotli}\n", nil, "kafka.compression"},
		{"sasl mechanism", minimal + "kafka: {sasl: {mechanism: GSSAPI, username: u, password: p}}\n", nil, "kafka.sasl.mechanism"},
		{"sasl username required", minimal + "kafka: {sasl: {mechanism: PLAIN, password: p}}\n", nil, "kafka.sasl.username"},
		{"sasl password required", minimal + "kafka: {sasl: {mechanism: SCRAM-SHA-256, username: u}}\n", nil, "kafka.sasl.password"},
		{"sasl credentials without mechanism", minimal + "kafka: {sasl: {username: u, password: p}}\n", nil, "kafka.sasl.mechanism"},
		{"kafka tls file without enabled", minimal + "kafka: {tls: {ca_file: /ca.pem}}\n", nil, "kafka.tls.enabled"},
		{"kafka tls cert without key", minimal + "kafka: {tls: {enabled: true, cert_file: /c.pem}}\n", nil, "kafka.tls.key_file"},
		{"source tls key without cert", minimal + "  tls: {enabled: true, key_file: /k.pem}\n", nil, "source.tls.cert_file"},
		{"registry tls skip verify without enabled", minimal + "schema_registry: {tls: {insecure_skip_verify: true}}\n", nil, "schema_registry.tls.enabled"},
		{"registry url scheme", minimal + "schema_registry: {url: 'sr:8081'}\n", nil, "schema_registry.url"},
		{"registry password required", minimal + "schema_registry: {url: 'http://sr', username: u}\n", nil, "schema_registry.password"},
		{"registry username required", minimal + "schema_registry: {url: 'http://sr', password: p}\n", nil, "schema_registry.username"},
		{"http listen", minimal + "http: {listen: localhost}\n", nil, "http.listen"},
		{"readiness timeout zero", minimal + "http: {readiness_timeout: 0s}\n", nil, "http.readiness_timeout"},
		{"liveness timeout negative", minimal, map[string]string{"SLUICE_HTTP_LIVENESS_TIMEOUT": "-1m"}, "http.liveness_timeout"},
		{"checkpoint interval zero", minimal + "checkpoint: {interval: 0s}\n", nil, "checkpoint.interval"},
		{"checkpoint interval negative", minimal, map[string]string{"SLUICE_CHECKPOINT_INTERVAL": "-1s"}, "checkpoint.interval"},
		{"checkpoint max events", minimal + "checkpoint: {max_events: 0}\n", nil, "checkpoint.max_events"},
		{"checkpoint linger negative", minimal + "checkpoint: {linger: -1ms}\n", nil, "checkpoint.linger"},

		// Values that cannot be decoded into the key's type.
		{"not an integer", minimal + "snapshot: {parallelism: many}\n", nil, "snapshot.parallelism"},
		{"not a whole number", minimal + "snapshot: {parallelism: 2.5}\n", nil, "snapshot.parallelism"},
		{"not a boolean", minimal, map[string]string{"SLUICE_KAFKA_EXACTLY_ONCE": "maybe"}, "kafka.exactly_once"},
		{"not a duration", minimal + "checkpoint: {interval: soon}\n", nil, "checkpoint.interval"},
		{"duration without unit", minimal + "checkpoint: {interval: 5}\n", nil, "checkpoint.interval"},
		{"server_id above uint32", minimalMySQL, map[string]string{"SLUICE_SOURCE_MYSQL_SERVER_ID": "4294967296"}, "source.mysql.server_id"},
		{"server_id negative", "name: inv\nsource: {type: mysql, dsn: x, mysql: {server_id: -1}}\n", nil, "source.mysql.server_id"},
		{"server_id above uint32 in the file", "name: inv\nsource: {type: mysql, dsn: x, mysql: {server_id: 4294967296}}\n", nil, "source.mysql.server_id"},
		{"empty variable for a number", minimal, map[string]string{"SLUICE_SNAPSHOT_PARALLELISM": ""}, "snapshot.parallelism"},
		{"scalar for a section", minimal + "log: debug\n", nil, "log"},
		{"list element of the wrong type", minimal + "  tables: [{public: orders}]\n", nil, "source.tables"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := load(t, tt.yaml, tt.env)
			if c != nil {
				t.Errorf("Load returned a config along with err %v", err)
			}
			if !config.IsConfigError(err) {
				t.Fatalf("err = %v; want a config error", err)
			}
			// Exactly one error: a bad value is reported once, not
			// again by every check downstream of it.
			if got := keysOf(err); !slices.Equal(got, []string{tt.wantKey}) {
				t.Errorf("error keys = %v; want [%s]\n%v", got, tt.wantKey, err)
			}
		})
	}
}

func TestAllProblemsReported(t *testing.T) {
	_, err := load(t, `
name: "in v"
source: {type: oracle}
snapshot: {parallelism: 100, progress_interval: 5}
kafka: {brokerz: [], partitions: many}
checkpoint: {interval: soon}
`, map[string]string{"SLUICE_KAFKA_EXACTLY_ONCE": "maybe"})
	got := keysOf(err)
	slices.Sort(got)
	want := []string{
		"checkpoint.interval", "kafka.brokerz", "kafka.exactly_once", "kafka.partitions", "name",
		"snapshot.parallelism", "snapshot.progress_interval", "source.dsn", "source.type",
	}
	if !slices.Equal(got, want) {
		t.Errorf("error keys = %v; want %v\n%v", got, want, err)
	}
}

func TestErrorText(t *testing.T) {
	_, err := load(t, "name: inv\nsource: {type: oracle, dsn: x}\n", nil)
	want := `config: source.type: "oracle" is not supported; use postgres or mysql`
	if err == nil || err.Error() != want {
		t.Errorf("err = %v; want %s", err, want)
	}
	if config.IsConfigError(errors.New("config: lookalike")) {
		t.Error("IsConfigError is true for an error that is not an *Error")
	}
}

// leafKeys returns every key path of Config that holds a value.
func leafKeys(t reflect.Type, prefix string) []string {
	var keys []string
	for f := range t.Fields() {
		name := f.Tag.Get("mapstructure")
		if name == "" {
			continue
		}
		if prefix != "" {
			name = prefix + "." + name
		}
		if f.Type.Kind() == reflect.Struct {
			keys = append(keys, leafKeys(f.Type, name)...)
			continue
		}
		keys = append(keys, name)
	}
	return keys
}

// TestDocsMatchStruct keeps docs/configuration.md and Config in step: every
// key has a table row "| `key` |", and every such row is a key.
func TestDocsMatchStruct(t *testing.T) {
	f, err := os.Open("../../docs/configuration.md")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	documented := map[string]bool{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		rest, ok := strings.CutPrefix(sc.Text(), "| `")
		if !ok {
			continue
		}
		key, _, ok := strings.Cut(rest, "` |")
		if !ok {
			t.Errorf("malformed key row %q", sc.Text())
			continue
		}
		if documented[key] {
			t.Errorf("key %s documented twice", key)
		}
		documented[key] = true
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}

	keys := leafKeys(reflect.TypeFor[config.Config](), "")
	if len(keys) < 50 {
		t.Fatalf("found only %d keys; the walk is broken", len(keys))
	}
	for _, k := range keys {
		if !documented[k] {
			t.Errorf("key %s has no row in docs/configuration.md", k)
		}
		delete(documented, k)
	}
	for k := range documented {
		t.Errorf("docs/configuration.md documents %s, which is not a key", k)
	}
}

// TestSkippedOperations: the default skips truncate events, as Debezium's
// skipped.operations; [] and [none] skip nothing.
func TestSkippedOperations(t *testing.T) {
	for _, tc := range []struct {
		name  string
		yaml  string
		env   map[string]string
		skips string // of "cudt"
	}{
		{"default", minimal, nil, "t"},
		{"empty list", minimal + "  skipped_operations: []\n", nil, ""},
		{"none", minimal + "  skipped_operations: [none]\n", nil, ""},
		{"several", minimal + "  skipped_operations: [c, d]\n", nil, "cd"},
		{"environment", minimal, map[string]string{"SLUICE_SOURCE_SKIPPED_OPERATIONS": "u,t"}, "ut"},
		{"environment none", minimal, map[string]string{"SLUICE_SOURCE_SKIPPED_OPERATIONS": "none"}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := load(t, tc.yaml, tc.env)
			if err != nil {
				t.Fatal(err)
			}
			got := ""
			for _, op := range []byte("cudt") {
				if c.Source.SkipsOp(op) {
					got += string(op)
				}
			}
			if got != tc.skips {
				t.Errorf("skips %q, want %q (skipped_operations %q)", got, tc.skips, c.Source.SkippedOperations)
			}
		})
	}
}
