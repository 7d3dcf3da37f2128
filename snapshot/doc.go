// Package snapshot reads the existing rows of captured tables while the
// source streams, and hands them to the pipeline as op "r" events.
//
// It owns the snapshot engine (engine.go): chunks in key order between
// watermarks, their hand-over at the high watermark without the rows the
// stream changed meanwhile, resumption from the progress stored in the
// checkpoint, parallel readers (of tables, and of key ranges of a big
// table, which a source cuts through Splitter) and progress reporting. A source plugs in
// through the Source interface; the engine imports no source package.
//
// It does not own streaming, the checkpoint's storage or the type mapping.
package snapshot
