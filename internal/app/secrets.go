package app

import (
	"crypto/tls"
	"net/url"
	"strings"

	pgcapture "github.com/sluicecdc/sluice/capture/postgres"
	"github.com/sluicecdc/sluice/internal/config"
	"github.com/sluicecdc/sluice/schema"
)

// registryOptions returns the registry client settings for rawURL. A
// user:password@ written into the URL is moved into Username and Password
// (unless schema_registry.username is set, which wins), so that the client
// never holds it in a URL: the registry client quotes request URLs in its
// errors, and would print the password with them.
func registryOptions(rawURL string, r config.SchemaRegistry, t *tls.Config) schema.RegistryOptions {
	o := schema.RegistryOptions{URL: rawURL, Username: r.Username, Password: r.Password, TLS: t}
	u, err := url.Parse(rawURL)
	if err != nil || u.User == nil {
		return o
	}
	if o.Username == "" {
		o.Username = u.User.Username()
		o.Password, _ = u.User.Password()
	}
	u.User = nil
	o.URL = u.String()
	return o
}

// scrub removes every secret of cfg from err's text: the DSN and its
// password, the SASL password and the registry password (also one written
// into schema_registry.url). The clients are not expected to quote them
// (the tests check that they do not); this is the last line of defence
// before an error is printed. The chain is kept for errors.Is and As.
func scrub(cfg *config.Config, err error) error {
	if err == nil {
		return nil
	}
	msg := err.Error()
	clean := pgcapture.Redact(msg, cfg.Source.DSN)
	secrets := []string{cfg.Kafka.SASL.Password, cfg.SchemaRegistry.Password}
	if u, perr := url.Parse(cfg.SchemaRegistry.URL); perr == nil && u.User != nil {
		if pw, ok := u.User.Password(); ok {
			secrets = append(secrets, pw, url.UserPassword("", pw).String()[1:])
		}
	}
	for _, s := range secrets {
		// Very short strings would mangle unrelated text; they are not
		// secrets worth the name.
		if len(s) >= 3 {
			clean = strings.ReplaceAll(clean, s, "***")
		}
	}
	if clean == msg {
		return err
	}
	return &scrubbedError{msg: clean, err: err}
}

// scrubbedError is an error whose text had secrets removed.
type scrubbedError struct {
	msg string
	err error
}

func (e *scrubbedError) Error() string { return e.msg }
func (e *scrubbedError) Unwrap() error { return e.err }
