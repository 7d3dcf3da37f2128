package capture

import "context"

// ReadInfo is what a snapshot chunk's read reports of its database
// snapshot besides its rows: the ids of the transactions the read saw as
// in progress (Postgres: pg_snapshot_xip, as the 32-bit xids its change
// stream carries in SourceInfo.TxID). Postgres writes a transaction's
// commit record before it makes the transaction visible, so a transaction
// whose commit precedes a chunk's low watermark in the stream can still
// be in progress to the read: the snapshot engine then reads the chunk
// again (docs/design.md, "Snapshots").
type ReadInfo struct {
	InProgress []int64
}

type readInfoKey struct{}

// WithReadInfo returns a context in which a chunk read records its
// ReadInfo in ri.
func WithReadInfo(ctx context.Context, ri *ReadInfo) context.Context {
	return context.WithValue(ctx, readInfoKey{}, ri)
}

// ReadInfoFrom returns the ReadInfo a chunk read should fill in, nil when
// nobody asked.
func ReadInfoFrom(ctx context.Context) *ReadInfo {
	ri, _ := ctx.Value(readInfoKey{}).(*ReadInfo)
	return ri
}
