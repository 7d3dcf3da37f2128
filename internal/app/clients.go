// Package app implements Sluice's commands on top of the capture, schema,
// emit and checkpoint packages. It holds wiring, not business logic.
package app

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"log/slog"
	"os"
	"strings"

	"github.com/twmb/franz-go/pkg/sasl"
	"github.com/twmb/franz-go/pkg/sasl/plain"
	"github.com/twmb/franz-go/pkg/sasl/scram"

	"github.com/sluicecdc/sluice/emit"
	"github.com/sluicecdc/sluice/internal/config"
	"github.com/sluicecdc/sluice/internal/devmode"
	"github.com/sluicecdc/sluice/schema"
)

// TLSConfig builds a client TLS configuration; nil when TLS is disabled.
func TLSConfig(t config.TLS, what string) (*tls.Config, error) {
	if !t.Enabled {
		return nil, nil
	}
	c := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: t.ServerName, InsecureSkipVerify: t.InsecureSkipVerify} //nolint:gosec // opt-in, documented
	if t.CAFile != "" {
		pem, err := os.ReadFile(t.CAFile)
		if err != nil {
			return nil, fmt.Errorf("%s.tls.ca_file: %w", what, err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("%s.tls.ca_file %s: no PEM certificate found", what, t.CAFile)
		}
		c.RootCAs = pool
	}
	if t.CertFile != "" || t.KeyFile != "" {
		cert, err := tls.LoadX509KeyPair(t.CertFile, t.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("%s.tls.cert_file/key_file: %w", what, err)
		}
		c.Certificates = []tls.Certificate{cert}
	}
	return c, nil
}

func saslMechanism(s config.SASL) sasl.Mechanism {
	switch strings.ToUpper(s.Mechanism) {
	case "PLAIN":
		return plain.Auth{User: s.Username, Pass: s.Password}.AsMechanism()
	case "SCRAM-SHA-256":
		return scram.Auth{User: s.Username, Pass: s.Password}.AsSha256Mechanism()
	case "SCRAM-SHA-512":
		return scram.Auth{User: s.Username, Pass: s.Password}.AsSha512Mechanism()
	}
	return nil
}

// Env holds the Kafka and registry settings resolved from the
// configuration, with the embedded development servers started when the
// configuration names none.
type Env struct {
	Kafka    emit.Options
	Registry *schema.Registry
	dev      *devmode.Env
}

// Close stops the embedded servers, if any.
func (e *Env) Close() {
	if e.dev != nil {
		e.dev.Close()
	}
}

// NewEnv resolves brokers and registry.
func NewEnv(cfg *config.Config, log *slog.Logger) (*Env, error) {
	embK, embR := cfg.Embedded()
	e := &Env{}
	brokers := cfg.Kafka.Brokers
	url := cfg.SchemaRegistry.URL
	if embK || embR {
		dev, err := devmode.Start(log, embK, embR)
		if err != nil {
			return nil, err
		}
		e.dev = dev
		if embK {
			brokers = dev.Brokers
		}
		if embR {
			url = dev.RegistryURL
		}
	}
	ktls, err := TLSConfig(cfg.Kafka.TLS, "kafka")
	if err != nil {
		e.Close()
		return nil, err
	}
	clientID := cfg.Kafka.ClientID
	if clientID == "" {
		clientID = "sluice-" + cfg.Name
	}
	e.Kafka = emit.Options{
		Brokers: brokers, ClientID: clientID, DeliveryTimeout: cfg.Kafka.DeliveryTimeout,
		MaxRecordBytes: cfg.Kafka.MaxRecordBytes, Compression: cfg.Kafka.Compression, TLS: ktls, SASL: saslMechanism(cfg.Kafka.SASL), Logger: log,
	}
	if cfg.Kafka.ExactlyOnce {
		e.Kafka.TransactionalID = "sluice-" + cfg.Name
		e.Kafka.TransactionTimeout = cfg.Kafka.TransactionTimeout
	}
	rtls, err := TLSConfig(cfg.SchemaRegistry.TLS, "schema_registry")
	if err != nil {
		e.Close()
		return nil, err
	}
	e.Registry, err = schema.NewRegistry(registryOptions(url, cfg.SchemaRegistry, rtls))
	if err != nil {
		e.Close()
		return nil, err
	}
	return e, nil
}
