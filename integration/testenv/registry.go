package testenv

// The schema registry is Apicurio Registry 3.0.9, run from the Quarkus
// uber-jar that Maven Central publishes (io.apicurio:apicurio-registry-app,
// classifier "all", tar.gz) with its default in-memory (H2) storage. It
// serves the Confluent Schema Registry REST API under /apis/ccompat/v7, and
// Registry.URL points there, so Confluent clients use it unchanged
// (POST /subjects/{s}/versions, GET /schemas/ids/{id},
// GET /subjects/{s}/versions/latest, GET|PUT /config, ...).
//
// Why this one: Karapace (Aiven's Confluent-compatible registry) is not
// published on PyPI, and Confluent's own registry is not on Maven Central.
// Apicurio 3.1 and later are built for Java 21, which Debian 12 lacks; 3.0.9
// runs on Java 17.
//
// Differences from Confluent's registry seen here: schema ids are Apicurio
// content ids (identical content under two subjects shares one id, as with
// Confluent, but ids may skip numbers); error bodies use Confluent's
// error_code values (40401 subject not found, 40403 schema not found, 409
// incompatible, 42201 invalid schema). Apicurio's default compatibility is
// NONE; StartRegistry sets the global level to BACKWARD, Confluent's default.
// It keeps no state in Kafka, so StartRegistry does not need a broker, and a
// Restart loses all schemas.

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"strconv"
	"syscall"
	"time"
)

// RegistryVersion is the Apicurio Registry release installed by
// scripts/install-deps.sh (apicurio.version in
// integration/testenv/maven/registry/pom.xml).
const RegistryVersion = "3.0.9"

// registryJVMFlags: keep identical to REGISTRY_JVM_FLAGS in
// scripts/install-deps.sh, which records the class-data-sharing archive.
var registryJVMFlags = []string{"-Xms64m", "-Xmx384m", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1", "-XX:-UsePerfData", "-Djava.awt.headless=true"}

// RegistryHome returns Cache()/apicurio-registry-<version>, where
// install-deps.sh unpacks the registry (runner jar, lib/, registry.jsa).
func RegistryHome() string { return filepath.Join(Cache(), "apicurio-registry-"+RegistryVersion) }

// Registry is a private schema registry on Host:Port.
type Registry struct {
	// URL is the Confluent-compatible base URL,
	// http://127.0.0.1:<port>/apis/ccompat/v7 (no trailing slash).
	URL     string
	Port    int
	LogFile string // registry log (stdout/stderr)
	LogDir  string // the instance's temporary directory

	srv      server
	argv     []string
	instance string
	client   *http.Client
}

// StartRegistry starts a schema registry with empty in-memory storage on a
// free loopback port and returns once it serves the Confluent API. k may be
// nil: this registry does not store schemas in Kafka. Call Stop when done.
func StartRegistry(ctx context.Context, k *Kafka) (*Registry, error) {
	_ = k
	java, err := javaBinary()
	if err != nil {
		return nil, err
	}
	home := RegistryHome()
	jar := filepath.Join(home, "apicurio-registry-app-"+RegistryVersion+"-runner.jar")
	if !fileExists(jar) {
		return nil, notInstalled("Apicurio Registry "+RegistryVersion, jar)
	}
	ctx, cancel := withDefaultTimeout(ctx, 120*time.Second)
	defer cancel()

	dir, err := newServerDir("registry")
	if err != nil {
		return nil, err
	}
	r := &Registry{
		LogFile:  filepath.Join(dir, "registry.log"),
		LogDir:   dir,
		srv:      server{name: "registry", dir: dir},
		instance: randHex(8),
		client:   &http.Client{Timeout: 5 * time.Second},
	}
	fail := func(err error) (*Registry, error) {
		r.srv.mu.Lock()
		_ = r.srv.finish(syscall.SIGTERM, 10*time.Second)
		r.srv.mu.Unlock()
		return nil, err
	}
	pick := func() error {
		p, err := freePort()
		if err != nil {
			return err
		}
		r.Port = p
		r.URL = fmt.Sprintf("http://%s:%d/apis/ccompat/v7", Host, p)
		r.argv = append([]string{java}, registryJVMFlags...)
		if jsa := filepath.Join(home, "registry.jsa"); fileExists(jsa) {
			r.argv = append(r.argv, "-XX:SharedArchiveFile="+jsa)
		}
		r.argv = append(r.argv,
			"-Djava.io.tmpdir="+dir,
			"-Dvertx.cacheDirBase="+filepath.Join(dir, "vertx"),
			"-Dquarkus.http.host="+Host,
			"-Dquarkus.http.port="+strconv.Itoa(p),
			// Echoed on every response: proves the answer comes from this
			// process, not another one that took the port after FreePort.
			`-Dquarkus.http.header."X-Sluice-Instance".value=`+r.instance,
			// Whitespace-insensitive lookup of already registered schemas,
			// as in Confluent's registry.
			"-Dapicurio.ccompat.use-canonical-hash=true",
			"-Dapicurio.rules.global.compatibility=BACKWARD",
			"-jar", jar)
		return nil
	}
	if err := pick(); err != nil {
		return fail(err)
	}
	r.srv.mu.Lock()
	err = startWithPortRetry(func() error { return r.startLocked(ctx) }, r.LogFile, pick)
	r.srv.mu.Unlock()
	if err != nil {
		return fail(err)
	}
	return r, nil
}

func (r *Registry) startLocked(ctx context.Context) error {
	p, err := startProc(r.LogDir, r.LogFile, nil, nil, r.argv...)
	if err != nil {
		return fmt.Errorf("testenv: registry: %w", err)
	}
	r.srv.proc = p
	err = waitReady(ctx, "registry", p, r.LogFile, 100*time.Millisecond, func(ctx context.Context) error {
		_, err := r.do(ctx, http.MethodGet, "/subjects", nil)
		return err
	})
	if err == nil {
		// Apicurio's GET /config reports NONE although the default rule above
		// applies; setting it explicitly makes both agree on BACKWARD.
		_, err = r.do(ctx, http.MethodPut, "/config", []byte(`{"compatibility":"BACKWARD"}`))
		if err != nil {
			err = fmt.Errorf("testenv: registry: set compatibility: %w", err)
		}
	}
	if err != nil {
		p.stop(syscall.SIGKILL, 0)
		r.srv.proc = nil
	}
	return err
}

// do sends a request to the Confluent API and returns the body of a 2xx
// response from this instance.
func (r *Registry) do(ctx context.Context, method, path string, body []byte) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, method, r.URL+path, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/vnd.schemaregistry.v1+json")
	}
	resp, err := r.client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if got := resp.Header.Get("X-Sluice-Instance"); got != r.instance {
		return nil, fmt.Errorf("answer from another server on port %d", r.Port)
	}
	if resp.StatusCode/100 != 2 {
		return nil, fmt.Errorf("%s %s: %s: %s", method, path, resp.Status, b)
	}
	return b, nil
}

// Restart stops the registry (or nothing, after Kill) and starts it again on
// the same port. Storage is in memory: all schemas are lost.
func (r *Registry) Restart(ctx context.Context) error {
	ctx, cancel := withDefaultTimeout(ctx, 120*time.Second)
	defer cancel()
	r.srv.mu.Lock()
	defer r.srv.mu.Unlock()
	if r.srv.stopped {
		return fmt.Errorf("testenv: registry already stopped")
	}
	r.srv.proc.stop(syscall.SIGTERM, 20*time.Second)
	r.srv.proc = nil
	return r.startLocked(ctx)
}

// Kill SIGKILLs the registry (it becomes unreachable until Restart).
func (r *Registry) Kill() error {
	r.srv.mu.Lock()
	defer r.srv.mu.Unlock()
	return r.srv.killLocked()
}

// Keep makes Stop keep LogDir instead of removing it.
func (r *Registry) Keep() { r.srv.setKeep() }

// Stop shuts the registry down and removes LogDir unless Keep was called or
// SLUICE_KEEP_LOGS=1. Safe to call twice.
func (r *Registry) Stop() error {
	r.srv.mu.Lock()
	defer r.srv.mu.Unlock()
	return r.srv.finish(syscall.SIGTERM, 20*time.Second)
}
