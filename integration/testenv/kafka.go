package testenv

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// KafkaVersion is the Apache Kafka release installed by scripts/install-deps.sh
// (kafka.version in integration/testenv/maven/kafka/pom.xml).
const KafkaVersion = "3.9.2"

// Kafka4Version is the Apache Kafka 4 release (transactions V2) of the
// compatibility matrix, also installed by scripts/install-deps.sh
// (kafka.version in integration/testenv/maven/kafka4/pom.xml).
const Kafka4Version = "4.1.1"

// kafkaJVMFlags: keep identical to KAFKA_JVM_FLAGS in scripts/install-deps.sh,
// which records the class-data-sharing archive with them.
var kafkaJVMFlags = []string{"-Xms256m", "-Xmx512m", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1", "-XX:-UsePerfData", "-Djava.awt.headless=true"}

// KafkaHome returns the directory install-deps.sh fills for KafkaVersion:
// Cache()/kafka-<version> with libs/ (jars), classpath.txt, kafka.jsa (CDS
// archive) and bootstrap.checkpoint (formatted KRaft bootstrap metadata).
func KafkaHome() string { return kafkaHome(KafkaVersion) }

func kafkaHome(version string) string { return filepath.Join(Cache(), "kafka-"+version) }

// KafkaOptions configures StartKafka.
type KafkaOptions struct {
	// ExtraConfig entries are added to server.properties, overriding the
	// defaults, e.g. {"auto.create.topics.enable": "true"}.
	ExtraConfig map[string]string
	// Port, when non-zero, is the PLAINTEXT port to listen on (a test that
	// puts a proxy in front of the broker needs to know it in advance).
	Port int
	// ProxyPort, when non-zero, is the port the PLAINTEXT listener
	// advertises (that of a proxy in front of the broker), and the broker
	// also listens on DirectPort as the listener DIRECT, which advertises
	// itself: a test can then cut the proxy and still read the broker.
	// The broker's own traffic (the transaction coordinator writing
	// commit markers to the partitions) goes through DIRECT, so a cut
	// parts the clients from the broker, as a network partition between
	// Sluice and the cluster does, and leaves the broker whole.
	ProxyPort int
	// JVMFlags, when set, replace the JVM flags tuned for a fast start
	// (C1 only, serial GC, small heap). The benchmark passes Kafka's own
	// defaults (kafka-run-class.sh), which the brokers users run have.
	JVMFlags []string
	// Version is the Apache Kafka release to start: KafkaVersion (the
	// default, when empty) or Kafka4Version.
	Version string
}

// KafkaDefaultJVMFlags are the heap and GC settings Kafka's start scripts
// use (KAFKA_HEAP_OPTS and KAFKA_JVM_PERFORMANCE_OPTS).
var KafkaDefaultJVMFlags = []string{"-Xmx1G", "-Xms1G", "-server", "-XX:+UseG1GC", "-XX:MaxGCPauseMillis=20",
	"-XX:InitiatingHeapOccupancyPercent=35", "-XX:+ExplicitGCInvokesConcurrent", "-Djava.awt.headless=true"}

// Kafka is a private single-node Kafka broker+controller (KRaft) listening on
// Host:Port (PLAINTEXT) with its controller on Host:ControllerPort.
type Kafka struct {
	Host           string // always 127.0.0.1
	Port           int
	ControllerPort int
	DirectPort     int // the DIRECT listener (KafkaOptions.ProxyPort), else 0
	ClusterID      string
	DataDir        string // log.dirs (also the KRaft metadata log)
	LogFile        string // broker log (log4j)
	LogDir         string // the instance's temporary directory
	Version        string // the Apache Kafka release running

	srv  server
	argv []string
}

func javaBinary() (string, error) {
	if h := os.Getenv("JAVA_HOME"); h != "" {
		if _, err := os.Stat(filepath.Join(h, "bin", "java")); err == nil {
			return filepath.Join(h, "bin", "java"), nil
		}
	}
	j, err := exec.LookPath("java")
	if err != nil {
		return "", notInstalled("java (Java 17)", "$PATH")
	}
	return j, nil
}

// kafkaClasspath returns the broker class path in the order install-deps.sh
// recorded the CDS archive with.
func kafkaClasspath(version string) (string, error) {
	home := kafkaHome(version)
	if b, err := os.ReadFile(filepath.Join(home, "classpath.txt")); err == nil {
		if cp := strings.TrimSpace(string(b)); cp != "" {
			return cp, nil
		}
	}
	jars, _ := filepath.Glob(filepath.Join(home, "libs", "*.jar"))
	if len(jars) == 0 {
		return "", notInstalled("Kafka "+version+" jars", filepath.Join(home, "libs"))
	}
	return strings.Join(jars, ":"), nil
}

// StartKafka formats storage for a new cluster in a new temporary directory
// and starts a combined broker+controller on free loopback ports. Topics are
// not auto-created; internal topics have replication factor 1 (and one
// partition, for speed). It returns once a client sees the broker in the
// cluster metadata. Call Stop when done.
func StartKafka(ctx context.Context, opts KafkaOptions) (*Kafka, error) {
	java, err := javaBinary()
	if err != nil {
		return nil, err
	}
	version := opts.Version
	if version == "" {
		version = KafkaVersion
	}
	home := kafkaHome(version)
	if _, err := os.Stat(filepath.Join(home, "libs", "kafka_2.13-"+version+".jar")); err != nil {
		return nil, notInstalled("Kafka "+version, filepath.Join(home, "libs"))
	}
	cp, err := kafkaClasspath(version)
	if err != nil {
		return nil, err
	}
	ctx, cancel := withDefaultTimeout(ctx, 120*time.Second)
	defer cancel()

	dir, err := newServerDir("kafka")
	if err != nil {
		return nil, err
	}
	k := &Kafka{
		Host:      Host,
		ClusterID: newKafkaUUID(),
		DataDir:   filepath.Join(dir, "data"),
		LogFile:   filepath.Join(dir, "kafka.log"),
		LogDir:    dir,
		Version:   version,
		srv:       server{name: "kafka", dir: dir},
	}
	fail := func(err error) (*Kafka, error) {
		k.srv.mu.Lock()
		_ = k.srv.finish(syscall.SIGTERM, 10*time.Second)
		k.srv.mu.Unlock()
		return nil, err
	}
	pick := func() error {
		var err error
		if opts.Port != 0 {
			k.Port = opts.Port
		} else if k.Port, err = freePort(); err != nil {
			return err
		}
		for {
			if k.ControllerPort, err = freePort(); err != nil || k.ControllerPort != k.Port {
				break
			}
		}
		if err != nil {
			return err
		}
		extra := opts.ExtraConfig
		if opts.ProxyPort != 0 {
			for {
				if k.DirectPort, err = freePort(); err != nil {
					return err
				}
				if k.DirectPort != k.Port && k.DirectPort != k.ControllerPort {
					break
				}
			}
			extra = map[string]string{
				"listeners": fmt.Sprintf("PLAINTEXT://%s:%d,DIRECT://%s:%d,CONTROLLER://%s:%d",
					Host, k.Port, Host, k.DirectPort, Host, k.ControllerPort),
				"advertised.listeners":           fmt.Sprintf("PLAINTEXT://%s:%d,DIRECT://%s:%d", Host, opts.ProxyPort, Host, k.DirectPort),
				"listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,DIRECT:PLAINTEXT,CONTROLLER:PLAINTEXT",
				"inter.broker.listener.name":     "DIRECT",
			}
			for key, v := range opts.ExtraConfig {
				extra[key] = v
			}
		}
		return k.writeConfig(extra)
	}
	if err := pick(); err != nil {
		return fail(err)
	}
	if err := k.writeLog4j(); err != nil {
		return fail(err)
	}
	jvm := append([]string{java}, kafkaJVMFlags...)
	if jsa := filepath.Join(home, "kafka.jsa"); fileExists(jsa) {
		jvm = append(jvm, "-XX:SharedArchiveFile="+jsa)
	}
	if opts.JVMFlags != nil {
		jvm = append([]string{java}, opts.JVMFlags...)
	}
	jvm = append(jvm,
		"-Dlog4j.configuration=file:"+filepath.Join(dir, "log4j.properties"),
		"-Dlog4j2.configurationFile="+filepath.Join(dir, "log4j2.properties"),
		"-Djava.io.tmpdir="+dir,
		"-cp", cp)
	if err := k.format(ctx, jvm); err != nil {
		return fail(err)
	}
	k.argv = append(append([]string{}, jvm...), "kafka.Kafka", filepath.Join(dir, "server.properties"))

	k.srv.mu.Lock()
	err = startWithPortRetry(func() error { return k.startLocked(ctx) }, k.LogFile, pick)
	k.srv.mu.Unlock()
	if err != nil {
		return fail(err)
	}
	return k, nil
}

func fileExists(p string) bool {
	st, err := os.Stat(p)
	return err == nil && st.Mode().IsRegular()
}

// newKafkaUUID returns a random Kafka Uuid in its base64 form.
func newKafkaUUID() string {
	for {
		b := make([]byte, 16)
		_, _ = rand.Read(b)
		s := base64.RawURLEncoding.EncodeToString(b)
		if !strings.HasPrefix(s, "-") && b[0] != 0 {
			return s
		}
	}
}

func (k *Kafka) writeConfig(extra map[string]string) error {
	conf := map[string]string{
		"process.roles":                            "broker,controller",
		"node.id":                                  "1",
		"controller.quorum.voters":                 fmt.Sprintf("1@%s:%d", Host, k.ControllerPort),
		"listeners":                                fmt.Sprintf("PLAINTEXT://%s:%d,CONTROLLER://%s:%d", Host, k.Port, Host, k.ControllerPort),
		"advertised.listeners":                     fmt.Sprintf("PLAINTEXT://%s:%d", Host, k.Port),
		"controller.listener.names":                "CONTROLLER",
		"inter.broker.listener.name":               "PLAINTEXT",
		"listener.security.protocol.map":           "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
		"log.dirs":                                 k.DataDir,
		"num.partitions":                           "1",
		"default.replication.factor":               "1",
		"min.insync.replicas":                      "1",
		"offsets.topic.replication.factor":         "1",
		"offsets.topic.num.partitions":             "1",
		"transaction.state.log.replication.factor": "1",
		"transaction.state.log.min.isr":            "1",
		"transaction.state.log.num.partitions":     "1",
		"auto.create.topics.enable":                "false",
		"group.initial.rebalance.delay.ms":         "0",
		// After Kill, the restarted broker cannot register until the
		// crashed incarnation's session expires (default 9s).
		"broker.session.timeout.ms":         "5000",
		"broker.heartbeat.interval.ms":      "500",
		"num.network.threads":               "2",
		"num.io.threads":                    "2",
		"num.recovery.threads.per.data.dir": "1",
		"background.threads":                "2",
		"log.cleaner.threads":               "1",
		"log.cleaner.dedupe.buffer.size":    "8388608",
	}
	for key, v := range extra {
		conf[key] = v
	}
	keys := make([]string, 0, len(conf))
	for key := range conf {
		keys = append(keys, key)
	}
	sort.Strings(keys)
	var b strings.Builder
	for _, key := range keys {
		fmt.Fprintf(&b, "%s=%s\n", key, conf[key])
	}
	return os.WriteFile(filepath.Join(k.LogDir, "server.properties"), []byte(b.String()), 0o644)
}

func (k *Kafka) writeLog4j() error {
	conf := `log4j.rootLogger=INFO, F
log4j.appender.F=org.apache.log4j.FileAppender
log4j.appender.F.File=` + k.LogFile + `
log4j.appender.F.Append=true
log4j.appender.F.layout=org.apache.log4j.PatternLayout
log4j.appender.F.layout.ConversionPattern=[%d] %p %m (%c)%n
log4j.logger.kafka.request.logger=WARN
log4j.logger.org.apache.kafka.clients=WARN
`
	if err := os.WriteFile(filepath.Join(k.LogDir, "log4j.properties"), []byte(conf), 0o644); err != nil {
		return err
	}
	// Kafka 4 logs through Log4j 2: the same settings.
	conf2 := `rootLogger.level=INFO
rootLogger.appenderRef.f.ref=F
appender.f.type=File
appender.f.name=F
appender.f.fileName=` + k.LogFile + `
appender.f.append=true
appender.f.layout.type=PatternLayout
appender.f.layout.pattern=[%d] %p %m (%c)%n
logger.request.name=kafka.request.logger
logger.request.level=WARN
logger.clients.name=org.apache.kafka.clients
logger.clients.level=WARN
`
	return os.WriteFile(filepath.Join(k.LogDir, "log4j2.properties"), []byte(conf2), 0o644)
}

// format prepares DataDir for a new cluster. With the bootstrap.checkpoint
// that install-deps.sh saved from a real `StorageTool format` it only writes
// meta.properties (saving a JVM start); otherwise it runs StorageTool.
func (k *Kafka) format(ctx context.Context, jvm []string) error {
	if err := os.MkdirAll(k.DataDir, 0o755); err != nil {
		return err
	}
	if cp, err := os.ReadFile(filepath.Join(kafkaHome(k.Version), "bootstrap.checkpoint")); err == nil && len(cp) > 0 {
		meta := fmt.Sprintf("#\n#written by sluice testenv\nnode.id=1\ndirectory.id=%s\nversion=1\ncluster.id=%s\n", newKafkaUUID(), k.ClusterID)
		if err := os.WriteFile(filepath.Join(k.DataDir, "meta.properties"), []byte(meta), 0o644); err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(k.DataDir, "bootstrap.checkpoint"), cp, 0o644)
	}
	argv := append(append([]string{}, jvm...), "kafka.tools.StorageTool", "format",
		"-t", k.ClusterID, "-c", filepath.Join(k.LogDir, "server.properties"))
	if err := runLogged(ctx, k.LogDir, filepath.Join(k.LogDir, "format.log"), nil, argv...); err != nil {
		return fmt.Errorf("testenv: kafka storage format: %w", err)
	}
	return nil
}

func (k *Kafka) startLocked(ctx context.Context) error {
	p, err := startProc(k.LogDir, filepath.Join(k.LogDir, "kafka.out"), nil, nil, k.argv...)
	if err != nil {
		return fmt.Errorf("testenv: kafka: %w", err)
	}
	k.srv.proc = p
	cl, err := kgo.NewClient(
		kgo.SeedBrokers(k.Brokers()...),
		kgo.DialTimeout(time.Second),
		kgo.RequestRetries(0),
		kgo.RetryTimeout(time.Second),
		kgo.MetadataMinAge(10*time.Millisecond),
	)
	if err != nil {
		p.stop(syscall.SIGKILL, 0)
		k.srv.proc = nil
		return fmt.Errorf("testenv: kafka: %w", err)
	}
	defer cl.Close()
	err = waitReady(ctx, "kafka", p, k.LogFile, 100*time.Millisecond, func(ctx context.Context) error {
		req := kmsg.NewPtrMetadataRequest()
		req.Topics = []kmsg.MetadataRequestTopic{}
		resp, err := req.RequestWith(ctx, cl)
		if err != nil {
			return err
		}
		// The cluster ID proves this is our broker, not another process that
		// took the port after FreePort.
		if resp.ClusterID == nil || *resp.ClusterID != k.ClusterID {
			return fmt.Errorf("unexpected cluster id %v", resp.ClusterID)
		}
		if len(resp.Brokers) == 0 || resp.ControllerID < 0 {
			return errors.New("broker not registered yet")
		}
		return nil
	})
	if err != nil {
		p.stop(syscall.SIGKILL, 0)
		k.srv.proc = nil
		if portConflict(filepath.Join(k.LogDir, "kafka.out")) {
			// Let startWithPortRetry see it.
			_ = appendFile(k.LogFile, "BindException (from kafka.out)\n")
		}
	}
	return err
}

func appendFile(path, s string) error {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	defer f.Close()
	_, err = f.WriteString(s)
	return err
}

// Addr returns "127.0.0.1:port" of the PLAINTEXT listener.
func (k *Kafka) Addr() string { return net.JoinHostPort(k.Host, strconv.Itoa(k.Port)) }

// Brokers returns the bootstrap address list (one broker).
func (k *Kafka) Brokers() []string { return []string{k.Addr()} }

// DirectBrokers returns the bootstrap address list of the DIRECT listener
// (KafkaOptions.ProxyPort), which no proxy stands in front of.
func (k *Kafka) DirectBrokers() []string {
	return []string{net.JoinHostPort(k.Host, strconv.Itoa(k.DirectPort))}
}

// Restart stops the broker (controlled shutdown; or nothing, after Kill) and
// starts it again with the same data directory and ports.
func (k *Kafka) Restart(ctx context.Context) error {
	ctx, cancel := withDefaultTimeout(ctx, 120*time.Second)
	defer cancel()
	k.srv.mu.Lock()
	defer k.srv.mu.Unlock()
	if k.srv.stopped {
		return fmt.Errorf("testenv: kafka already stopped")
	}
	k.srv.proc.stop(syscall.SIGTERM, 30*time.Second)
	k.srv.proc = nil
	return k.startLocked(ctx)
}

// Kill SIGKILLs the broker (a crash). The data directory stays; Restart
// starts it again with log recovery.
func (k *Kafka) Kill() error {
	k.srv.mu.Lock()
	defer k.srv.mu.Unlock()
	return k.srv.killLocked()
}

// Keep makes Stop keep LogDir (data and logs) instead of removing it.
func (k *Kafka) Keep() { k.srv.setKeep() }

// Stop shuts the broker down (SIGTERM, SIGKILL after 30s) and removes LogDir
// unless Keep was called or SLUICE_KEEP_LOGS=1. Safe to call twice.
func (k *Kafka) Stop() error {
	k.srv.mu.Lock()
	defer k.srv.mu.Unlock()
	return k.srv.finish(syscall.SIGTERM, 30*time.Second)
}
