// Package transform owns the configured transforms (config key
// transforms): Debezium's outbox event router (outbox), its new-record-
// state extraction (unwrap) and column masking (mask). It decides, per
// table version, what a change event becomes: which topic, key, value,
// schemas and headers. docs/transforms.md describes each transform for
// users.
//
// It sits where the pipeline encodes, not in a capture.Handler decorator
// in front of it: a transform changes topics, keys and schemas, which are
// the encoder's, and it must see snapshot rows and streamed changes
// alike, after the snapshot engine and transaction splitting [I7] have
// counted them as source changes.
//
// The contract with the pipeline, which calls it:
//
//   - A Chain is built once from the configuration and is immutable. For
//     returns the Plan of one table version, or nil when no transform
//     applies to it (its events stay the plain Debezium envelope).
//   - An Encoder runs on the pipeline's goroutine only (the stream's, and
//     the snapshot's hand-over). It may need the network: it registers the
//     schemas of each topic it writes to and has the topic created, before
//     the first record that uses them, in the same way the pipeline does
//     for change topics.
//   - A change becomes zero, one or two records (a value and its
//     tombstone), in the change's order; nothing is reordered, and records
//     of one key stay on one partition. Dropping is done only where the
//     configuration says so, as Debezium does: unwrap's delete_handling
//     drop and drop_tombstones, truncates under unwrap, deletes and
//     truncates of an outbox table, and (on_update: warn) outbox updates,
//     which are logged.
//   - Values are not retained: Encode copies what it needs into the
//     records it returns.
//   - An error (a value a transform cannot handle: an outbox row with no
//     routing value, a topic name Kafka refuses) is returned to the
//     pipeline, which stops before the checkpoint passes the change
//     [I4, I5]; nothing is dropped to get past it. A problem of the
//     configuration that shows only once the table's columns are known (a
//     missing outbox column, a masked key column) is a *config.Error, so
//     that Sluice exits with status 2.
//   - Positions pass through untouched: a transform never changes which
//     source position a record belongs to, so checkpoints and
//     exactly-once hold as without transforms.
package transform
