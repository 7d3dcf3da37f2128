// Package mysql captures changes from MySQL 8.0+ and MariaDB 10.5+ by
// reading the binary log as a replica (go-mysql's replication.BinlogSyncer),
// and describes tables for the schema package. It knows nothing of Avro or
// Kafka.
//
// Table versions come from the binlog itself: every rows event is preceded
// by a TABLE_MAP event which, with binlog_row_metadata=FULL, carries the
// column names, types, signedness, character sets, enum and set labels and
// the primary key, so rows are always decoded with the schema in force at
// their position (never with today's schema, which is what go-mysql's canal
// does and why it is not used). DDL statements are recorded in the schema
// history as they pass.
package mysql
