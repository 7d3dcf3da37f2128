package testenv

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl/scram"
)

// SecureKafkaOptions configures StartSecureKafka.
type SecureKafkaOptions struct {
	// ExtraConfig entries are added to server.properties last, as in
	// KafkaOptions (they may override the listener settings below).
	ExtraConfig map[string]string
	// CertPEM is the broker certificate chain and KeyPEM its private key
	// in PKCS#8 form ("BEGIN PRIVATE KEY"), both PEM; Kafka's PEM key
	// store takes nothing else. The certificate should name 127.0.0.1 (an
	// IP SAN), the host clients dial.
	CertPEM, KeyPEM []byte
}

// SecureKafka is a Kafka broker (see StartKafka) with a second listener,
// SASL_SSL: TLS with the given certificate and SASL/SCRAM-SHA-512
// authentication. The PLAINTEXT listener (Addr, Brokers) stays, so the test
// harness reads and administers the broker as usual; inter-broker and
// controller traffic stays on PLAINTEXT.
type SecureKafka struct {
	*Kafka
	// SASLPort is the SASL_SSL listener's port on Host.
	SASLPort int
}

// SASLAddr returns "127.0.0.1:port" of the SASL_SSL listener.
func (k *SecureKafka) SASLAddr() string { return net.JoinHostPort(k.Host, strconv.Itoa(k.SASLPort)) }

// StartSecureKafka starts a broker like StartKafka with an extra SASL_SSL
// listener accepting SCRAM-SHA-512. No SCRAM user exists yet: create them
// with AddSCRAMUser. Call Stop when done.
func StartSecureKafka(ctx context.Context, opts SecureKafkaOptions) (*SecureKafka, error) {
	if len(opts.CertPEM) == 0 || len(opts.KeyPEM) == 0 {
		return nil, errors.New("testenv: secure kafka: CertPEM and KeyPEM are required")
	}
	var err error
	for attempt := 0; attempt < 3; attempt++ {
		var k *SecureKafka
		k, err = startSecureKafka(ctx, opts)
		if err == nil {
			return k, nil
		}
		// StartKafka retries port conflicts by picking new ports, but the
		// ports here are fixed in the listener settings: pick them again.
		if !strings.Contains(err.Error(), "BindException") && !strings.Contains(err.Error(), "Address already in use") {
			return nil, err
		}
	}
	return nil, err
}

func startSecureKafka(ctx context.Context, opts SecureKafkaOptions) (*SecureKafka, error) {
	// StartKafka picks the controller port itself, but the listeners
	// setting that adds SASL_SSL must name it, so all three ports are
	// chosen here and the controller settings are overridden too.
	ports := map[int]bool{}
	pick := func() (int, error) {
		for {
			p, err := freePort()
			if err != nil || !ports[p] {
				ports[p] = true
				return p, err
			}
		}
	}
	plain, err := pick()
	if err != nil {
		return nil, err
	}
	controller, err := pick()
	if err != nil {
		return nil, err
	}
	saslPort, err := pick()
	if err != nil {
		return nil, err
	}
	conf := map[string]string{
		"listeners": fmt.Sprintf("PLAINTEXT://%s:%d,CONTROLLER://%s:%d,SASL_SSL://%s:%d",
			Host, plain, Host, controller, Host, saslPort),
		"advertised.listeners":                                  fmt.Sprintf("PLAINTEXT://%s:%d,SASL_SSL://%s:%d", Host, plain, Host, saslPort),
		"controller.quorum.voters":                              fmt.Sprintf("1@%s:%d", Host, controller),
		"listener.security.protocol.map":                        "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT,SASL_SSL:SASL_SSL",
		"listener.name.sasl_ssl.sasl.enabled.mechanisms":        "SCRAM-SHA-512",
		"listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config": "org.apache.kafka.common.security.scram.ScramLoginModule required;",
		"listener.name.sasl_ssl.ssl.keystore.type":              "PEM",
		"listener.name.sasl_ssl.ssl.keystore.certificate.chain": propertiesPEM(opts.CertPEM),
		"listener.name.sasl_ssl.ssl.keystore.key":               propertiesPEM(opts.KeyPEM),
	}
	for key, v := range opts.ExtraConfig {
		conf[key] = v
	}
	k, err := StartKafka(ctx, KafkaOptions{ExtraConfig: conf, Port: plain})
	if err != nil {
		return nil, err
	}
	k.ControllerPort = controller
	return &SecureKafka{Kafka: k, SASLPort: saslPort}, nil
}

// propertiesPEM writes PEM text as one server.properties value: the line
// breaks become the \n escape that java.util.Properties reads back.
func propertiesPEM(pem []byte) string {
	return strings.ReplaceAll(strings.TrimSpace(string(pem)), "\n", `\n`)
}

// AddSCRAMUser creates (or updates) a SCRAM-SHA-512 credential through the
// PLAINTEXT listener, then waits until the SASL_SSL listener accepts it:
// credentials reach the listener through the metadata log, a moment after
// the request succeeds. caPEM verifies the broker's certificate in that
// check.
func (k *SecureKafka) AddSCRAMUser(ctx context.Context, user, password string, caPEM []byte) error {
	ctx, cancel := withDefaultTimeout(ctx, 60*time.Second)
	defer cancel()
	cl, err := kgo.NewClient(kgo.SeedBrokers(k.Brokers()...))
	if err != nil {
		return fmt.Errorf("testenv: kafka scram user: %w", err)
	}
	defer cl.Close()
	res, err := kadm.NewClient(cl).AlterUserSCRAMs(ctx, nil, []kadm.UpsertSCRAM{{
		User: user, Mechanism: kadm.ScramSha512, Iterations: 4096, Password: password,
	}})
	if err == nil {
		err = res.Error()
	}
	if err != nil {
		return fmt.Errorf("testenv: kafka scram user %s: %w", user, err)
	}
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(caPEM) {
		return errors.New("testenv: kafka scram user: no certificate in caPEM")
	}
	var last error
	for {
		if last = k.probeSASL(ctx, user, password, roots); last == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("testenv: kafka scram user %s not accepted on %s: %w (last: %v); log %s:\n%s",
				user, k.SASLAddr(), ctx.Err(), last, k.LogFile, tail(k.LogFile, 20))
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// probeSASL connects to the SASL_SSL listener and asks for metadata.
func (k *SecureKafka) probeSASL(ctx context.Context, user, password string, roots *x509.CertPool) error {
	cl, err := kgo.NewClient(
		kgo.SeedBrokers(k.SASLAddr()),
		kgo.DialTLSConfig(&tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12}),
		kgo.SASL(scram.Auth{User: user, Pass: password}.AsSha512Mechanism()),
		kgo.RequestRetries(0),
		kgo.RetryTimeout(time.Second),
	)
	if err != nil {
		return err
	}
	defer cl.Close()
	pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	return cl.Ping(pctx)
}
