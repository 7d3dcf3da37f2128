// Package certerr finds a TLS certificate verification failure in an
// error chain, so that every connection (database, Kafka, registry) can
// name it in its error and say how to fix it.
package certerr

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
)

// Find returns the certificate verification failure in err's chain, or
// nil.
func Find(err error) error {
	var (
		ve  *tls.CertificateVerificationError
		ua  x509.UnknownAuthorityError
		he  x509.HostnameError
		cie x509.CertificateInvalidError
	)
	switch {
	case errors.As(err, &ve):
		return ve
	case errors.As(err, &ua):
		return ua
	case errors.As(err, &he):
		return he
	case errors.As(err, &cie):
		return cie
	}
	return nil
}
