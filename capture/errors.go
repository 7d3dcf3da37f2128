package capture

import "errors"

// The errors a source reports. Which of them stop Sluice and which make it
// restart the pipeline from the last checkpoint is decided in one place,
// internal/app's Fatal, from these types; nothing classifies by message.

// SetupError reports a prerequisite of a source that is not met: a
// setting, a privilege, a slot, a binlog, the server's identity. It names
// what failed and how to fix it.
type SetupError struct {
	What string
	Err  error
	Fix  string
	// Transient marks a failure that may pass by itself (the server is
	// unreachable or restarting); a running instance retries it. Without
	// it the error stops Sluice: a restart cannot fix it without a person.
	Transient bool
}

func (e *SetupError) Error() string {
	s := e.What + ": " + e.Err.Error()
	if e.Fix != "" {
		s += "; fix: " + e.Fix
	}
	return s
}

func (e *SetupError) Unwrap() error { return e.Err }

// UnsupportedError reports something in the change stream that Sluice
// cannot capture (for example an XA transaction in a binlog). The event
// stays in the source's log, so a restart would meet it again: it always
// stops Sluice.
type UnsupportedError struct {
	What string // what was met, and where
	Err  error
	Fix  string
}

func (e *UnsupportedError) Error() string {
	s := e.What + ": " + e.Err.Error()
	if e.Fix != "" {
		s += "; fix: " + e.Fix
	}
	return s
}

func (e *UnsupportedError) Unwrap() error { return e.Err }

// ErrNoTable reports a table that does not exist (any more), for example
// one dropped while its snapshot was under way.
var ErrNoTable = errors.New("the table does not exist")

// ErrSource matches (errors.Is) every error that FromSource marked: the
// source's own failures, for the error metrics.
var ErrSource = errors.New("source")

// FromSource marks err as returned by a source (its Open, Run or
// snapshot), keeping its text and chain. Nil stays nil.
func FromSource(err error) error {
	if err == nil {
		return nil
	}
	return sourceError{err}
}

type sourceError struct{ err error }

func (e sourceError) Error() string        { return e.err.Error() }
func (e sourceError) Unwrap() error        { return e.err }
func (e sourceError) Is(target error) bool { return target == ErrSource }
