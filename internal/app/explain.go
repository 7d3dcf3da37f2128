package app

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sr"

	pgcapture "github.com/sluicecdc/sluice/capture/postgres"
	"github.com/sluicecdc/sluice/internal/certerr"
	"github.com/sluicecdc/sluice/internal/config"
)

// explain adds what failed and what to check to the failures that the
// Kafka and registry clients report in their own terms: rejected
// credentials and certificates that do not verify. Postgres failures come
// explained from capture/postgres and are returned as they are. The chain
// is kept (%w), so Fatal and errors.Is see the original error. The text is
// scrubbed of every configured secret.
//
// No message added here names a secret: only keys, user names, URLs with
// their password masked, and broker addresses.
func explain(cfg *config.Config, err error) error {
	return scrub(cfg, explainCause(cfg, err))
}

func explainCause(cfg *config.Config, err error) error {
	if err == nil {
		return nil
	}
	var (
		setup *pgcapture.SetupError
		resp  *sr.ResponseError
		uerr  *url.Error
	)
	switch {
	case errors.As(err, &setup):
		return err
	case errors.As(err, &resp):
		return explainRegistryStatus(cfg, resp.StatusCode, err)
	case errors.As(err, &uerr):
		// Only the registry client speaks HTTP.
		if v := certerr.Find(err); v != nil {
			return fmt.Errorf("schema registry %s: TLS certificate verification failed (%w); fix: set schema_registry.tls.ca_file to the PEM file "+
				"of the CA that signed the registry's certificate, and use a URL whose host the certificate names (or set schema_registry.tls.server_name)",
				registryURL(cfg), err)
		}
		return err
	case errors.Is(err, kerr.SaslAuthenticationFailed):
		s := cfg.Kafka.SASL
		return fmt.Errorf("kafka: SASL authentication failed for user %q with mechanism %s at %s (%w); fix: check kafka.sasl.username and "+
			"kafka.sasl.password (or kafka.sasl.password_file), and that the brokers hold a %s credential for that user "+
			"(kafka-configs.sh --alter --entity-type users --entity-name USER --add-config '%s=[password=...]')",
			s.Username, s.Mechanism, brokers(cfg), err, s.Mechanism, s.Mechanism)
	case errors.Is(err, kerr.UnsupportedSaslMechanism):
		return fmt.Errorf("kafka: the brokers at %s do not enable SASL mechanism %q (%w); fix: set kafka.sasl.mechanism to one the listener's "+
			"sasl.enabled.mechanisms lists", brokers(cfg), cfg.Kafka.SASL.Mechanism, err)
	case errors.Is(err, kerr.IllegalSaslState):
		return fmt.Errorf("kafka: the listener at %s does not take SASL (%w); fix: list the brokers' SASL listener (SASL_SSL or "+
			"SASL_PLAINTEXT) in kafka.brokers, or remove kafka.sasl", brokers(cfg), err)
	case errors.As(err, new(*kgo.ErrFirstReadEOF)):
		if cfg.Kafka.TLS.Enabled {
			return fmt.Errorf("kafka: the brokers at %s closed the connection at once (%w); fix: kafka.tls.enabled is true, so list "+
				"the brokers' TLS listener (SSL or SASL_SSL) in kafka.brokers, or turn kafka.tls off for a PLAINTEXT listener", brokers(cfg), err)
		}
		return fmt.Errorf("kafka: the brokers at %s closed the connection at once (%w); fix: if that listener uses TLS (SSL or "+
			"SASL_SSL), set kafka.tls.enabled: true and kafka.tls.ca_file; if it uses SASL, set kafka.sasl", brokers(cfg), err)
	case !cfg.Kafka.TLS.Enabled && strings.Contains(err.Error(), "tls alert record"):
		// franz-go's guess when a TLS listener answers a plaintext request.
		return fmt.Errorf("kafka: the listener at %s speaks TLS (%w); fix: set kafka.tls.enabled: true and kafka.tls.ca_file", brokers(cfg), err)
	case certerr.Find(err) != nil:
		// Not HTTP, not Postgres: a broker's certificate.
		return fmt.Errorf("kafka: TLS certificate verification failed for brokers %s (%w); fix: set kafka.tls.ca_file to the PEM file of the CA "+
			"that signed the brokers' certificates, and list the brokers by a host name the certificates name (or set kafka.tls.server_name)",
			brokers(cfg), err)
	case isDialError(err):
		// Not HTTP, not Postgres: the brokers.
		return fmt.Errorf("kafka: cannot reach the brokers at %s (%w); fix: check kafka.brokers and that the brokers are running "+
			"and reachable from here", brokers(cfg), err)
	}
	return err
}

// brokers returns the configured seed brokers for messages.
func brokers(cfg *config.Config) string {
	if len(cfg.Kafka.Brokers) == 0 {
		return "(embedded development broker)"
	}
	return strings.Join(cfg.Kafka.Brokers, ",")
}

func isDialError(err error) bool {
	var op *net.OpError
	return errors.As(err, &op) && op.Op == "dial"
}

func explainRegistryStatus(cfg *config.Config, status int, err error) error {
	// The effective user, also when it is written into the URL.
	user := registryOptions(cfg.SchemaRegistry.URL, cfg.SchemaRegistry, nil).Username
	switch status {
	case http.StatusUnauthorized:
		if user == "" {
			return fmt.Errorf("schema registry %s: 401 Unauthorized: the registry requires authentication (%w); fix: set "+
				"schema_registry.username and schema_registry.password_file (or schema_registry.password)", registryURL(cfg), err)
		}
		return fmt.Errorf("schema registry %s: 401 Unauthorized: the registry rejected user %q (%w); fix: check "+
			"schema_registry.username and schema_registry.password (or schema_registry.password_file)", registryURL(cfg), user, err)
	case http.StatusForbidden:
		return fmt.Errorf("schema registry %s: 403 Forbidden: user %q may not use it (%w); fix: grant the user read and write "+
			"access to subjects in the registry", registryURL(cfg), user, err)
	}
	return err
}

// registryURL returns the configured registry URL without user
// information.
func registryURL(cfg *config.Config) string {
	if _, err := url.Parse(cfg.SchemaRegistry.URL); err != nil {
		return "(unparsable schema_registry.url)"
	}
	return registryOptions(cfg.SchemaRegistry.URL, cfg.SchemaRegistry, nil).URL
}
