package changes

import (
	"errors"
	"fmt"
	"strconv"
)

// Errors of this package. Every error returned is one of these sentinels
// (match with errors.Is) or one of the typed errors below (match with
// errors.As), wrapping the cause.
var (
	// ErrWireFormat: the record's key or value does not start with the
	// Confluent wire-format header (magic byte 0, 4-byte schema id). The
	// topic holds records not written by Sluice or a registry serializer.
	ErrWireFormat = errors.New("not Confluent wire format (want magic byte 0 and a 4-byte big-endian schema id)")

	// ErrSchema: the registry did not return a usable Avro schema for an
	// id: the registry is not reachable, does not know the id (the
	// consumer points at another registry than the producer), or the
	// schema is not valid Avro.
	ErrSchema = errors.New("schema registry")

	// ErrAvro: the record's bytes do not decode with the schema its header
	// names, or bytes are left over after it.
	ErrAvro = errors.New("avro payload does not match its schema")

	// ErrValue: a decoded value breaks the rules of its Debezium semantic
	// type (a ZonedTimestamp that is not ISO-8601, a Decimal without a
	// scale, ...).
	ErrValue = errors.New("value does not match its semantic type")

	// ErrNoImage: DecodeAfter, DecodeBefore or DecodeKey was called on an
	// event without that image (the after image of a delete, the before
	// image of a create, the key of a keyless table, any image of a
	// tombstone).
	ErrNoImage = errors.New("the event has no such image")

	// ErrConfig: a Config is not usable; the message names the field.
	ErrConfig = errors.New("invalid consumer configuration")

	// ErrClosed: Run was called on a consumer that was closed or has
	// already returned from Run. A consumer runs once: after Run returns,
	// Close it and make a new one.
	ErrClosed = errors.New("consumer closed or already run; make a new one")
)

// DecodeError reports a record that could not be decoded. Run stops at it
// without committing its offset, so the record is not skipped silently:
// fix the cause (often a consumer pointed at the wrong registry) and
// restart, or handle the record's position explicitly.
type DecodeError struct {
	Topic     string
	Partition int32
	Offset    int64
	Part      string // "key" or "value"
	SchemaID  int    // 0 when the header could not be read
	Err       error  // wraps ErrWireFormat, ErrSchema, ErrAvro or ErrValue
}

func (e *DecodeError) Error() string {
	s := "decoding " + e.Part + " of " + e.Topic + "/" + strconv.Itoa(int(e.Partition)) + "@" + strconv.FormatInt(e.Offset, 10)
	if e.SchemaID != 0 {
		s += " (schema id " + strconv.Itoa(e.SchemaID) + ")"
	}
	return s + ": " + e.Err.Error()
}

func (e *DecodeError) Unwrap() error { return e.Err }

// HandlerError wraps the error a Handler or TransactHandler returned, with
// the position of the record it was handling. The record's offset was not
// committed.
type HandlerError struct {
	Topic     string
	Partition int32
	Offset    int64
	Err       error
}

func (e *HandlerError) Error() string {
	return fmt.Sprintf("handling %s/%d@%d: %v", e.Topic, e.Partition, e.Offset, e.Err)
}

func (e *HandlerError) Unwrap() error { return e.Err }

// FieldError reports a column value that cannot be stored in a struct
// field by DecodeInto: the field's type cannot hold the value's Go type,
// or the value overflows it.
type FieldError struct {
	Field  string // the struct field
	Column string // the image's key
	Value  string // the value's Go type
	Err    error
}

func (e *FieldError) Error() string {
	return fmt.Sprintf("column %q (%s) into field %s: %v", e.Column, e.Value, e.Field, e.Err)
}

func (e *FieldError) Unwrap() error { return e.Err }
