package app

import (
	"errors"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/sluicecdc/sluice/capture"
	"github.com/sluicecdc/sluice/checkpoint"
	"github.com/sluicecdc/sluice/emit"
	"github.com/sluicecdc/sluice/internal/config"
	"github.com/sluicecdc/sluice/schema"
)

// Fatal reports whether err must stop Sluice rather than restart the
// pipeline from the last checkpoint. It is the one place that decides; it
// looks at error types and sentinels, never at message text.
//
// Restarting is always safe, because nothing after the last checkpoint was
// acknowledged [I2, I3]; it is useless when the cause is in the
// configuration, the data or another process, and then a restart loop only
// hides the error from the person who must act. So:
//
// Fatal, with the reason:
//
//   - *config.Error: the configuration is wrong; it does not change by
//     itself.
//   - *capture.SetupError without Transient: a prerequisite of the source
//     (a setting, a privilege, a missing or dropped slot, purged binlogs,
//     another server) needs a person.
//   - *capture.UnsupportedError: something in the source's log that Sluice
//     cannot capture (an XA transaction); it stays in the log, so a
//     restart meets it again.
//   - *schema.TableError: a table version that cannot be mapped (a type
//     without mapping, a key column excluded); it is in the log too.
//   - *schema.ValueError: a value that cannot be represented [I5]; the
//     same row comes again after a restart.
//   - *emit.RecordTooLargeError: the brokers refuse the record; the same
//     record comes again.
//   - *emit.TransactionTimeoutError: kafka.transaction_timeout is above
//     the brokers' transaction.max.timeout.ms; one of the two settings
//     must change.
//   - emit.ErrFenced: another instance of the same name took over; this
//     one must stop, not fight it.
//   - schema.ErrIncompatible: the registry refuses the schema until a
//     person changes the subject's compatibility.
//   - Kafka authorization failures (topic, cluster, transactional id): ACLs
//     change only by a person.
//
// Transient (restart from the last checkpoint, with backoff): everything
// else, in particular a *capture.SetupError with Transient (the database
// unreachable or restarting), a dropped connection, a restarted broker, a
// Kafka transaction whose outcome is unknown, a registry that does not
// answer.
func Fatal(err error) bool {
	_, fatal := classify(err)
	return fatal
}

// errorKind classifies an error for the sluice_errors_total metric.
func errorKind(err error) string {
	kind, _ := classify(err)
	return kind
}

// classify returns err's kind (config, value, kafka, registry, source,
// other) and whether it is fatal, by the rules above.
func classify(err error) (kind string, fatal bool) {
	var (
		ce  *config.Error
		se  *capture.SetupError
		ue  *capture.UnsupportedError
		te  *schema.TableError
		ve  *schema.ValueError
		tl  *emit.RecordTooLargeError
		tt  *emit.TransactionTimeoutError
		kse *kerr.Error
	)
	switch {
	case errors.As(err, &ce):
		return "config", true
	case errors.As(err, &ve), errors.As(err, &te):
		return "value", true
	case errors.As(err, &tl), errors.As(err, &tt), errors.Is(err, emit.ErrFenced):
		return "kafka", true
	case errors.Is(err, schema.ErrIncompatible):
		return "registry", true
	case errors.As(err, &ue):
		return "source", true
	case errors.As(err, &se):
		return "source", !se.Transient
	case errors.As(err, &kse):
		return "kafka", authorizationFailed(kse)
	case errors.Is(err, emit.ErrKafka), errors.Is(err, checkpoint.ErrKafka):
		return "kafka", false
	case errors.Is(err, schema.ErrRegistry):
		return "registry", false
	case errors.Is(err, capture.ErrSource):
		return "source", false
	}
	return "other", false
}

// authorizationFailed reports the Kafka errors that only an ACL change by
// a person can clear.
func authorizationFailed(e *kerr.Error) bool {
	switch e {
	case kerr.TopicAuthorizationFailed, kerr.ClusterAuthorizationFailed, kerr.TransactionalIDAuthorizationFailed,
		kerr.GroupAuthorizationFailed:
		return true
	}
	return false
}
