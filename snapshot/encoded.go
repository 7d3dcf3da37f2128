package snapshot

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	"github.com/sluicecdc/sluice/schema"
)

// encodedRows are a chunk's rows as its reader encoded them [S9]: for each
// row the text of its key (keyString's, [S2]), its encoded key and its
// encoded row image, one after the other in one buffer. Holding no
// pointers per row, a chunk in flight costs the garbage collector nothing
// to scan.
type encodedRows struct {
	buf  []byte
	ends []int // per row: end of the key text, of the key, of the row image
}

// encodedFree keeps a few buffers of chunks handed over: the pipeline
// copies what it produces, so a chunk's buffer is free once the chunk is
// handed over or rejected, and the next chunk's reader takes it instead
// of allocating (and zeroing) megabytes. It keeps no more than two: the
// chunks in flight hold theirs, and a sync.Pool would keep every buffer
// of a burst of hand-overs alive through the next collection, megabytes
// each, on top of the collector's headroom.
var encodedFree = make(chan *encodedRows, 2)

// getEncoded returns a free buffer, or a new one.
func getEncoded() *encodedRows {
	select {
	case r := <-encodedFree:
		return r
	default:
		return new(encodedRows)
	}
}

// release gives r back for a later chunk; r must not be used after.
func (r *encodedRows) release() {
	if r == nil {
		return
	}
	select {
	case encodedFree <- r:
	default: // enough kept: left to the collector
	}
}

func (r *encodedRows) len() int { return len(r.ends) / 3 }

func (r *encodedRows) start(i int) int {
	if i == 0 {
		return 0
	}
	return r.ends[3*i-1]
}

// keyText returns the text of row i's key, as keyString renders it.
func (r *encodedRows) keyText(i int) []byte { return r.buf[r.start(i):r.ends[3*i]] }

// row returns row i's encoded key and row image.
func (r *encodedRows) row(i int) (key, val []byte) {
	e := r.ends[3*i : 3*i+3]
	return r.buf[e[0]:e[1]:e[1]], r.buf[e[1]:e[2]:e[2]]
}

// rowEncoder returns the encoder of rows of t the pipeline offers, nil
// when it offers none [S9].
func (e *Engine) rowEncoder(t *schema.Table) func([]byte, []any) ([]byte, int, error) {
	if re, ok := e.next.(RowEncoding); ok {
		return re.RowEncoder(t)
	}
	return nil
}

// errNotEncoded ends a chunk's read at a row that cannot be encoded: the
// chunk is read again unencoded, and the hand-over reports the value
// through Change [S9].
var errNotEncoded = errors.New("snapshot: a row cannot be encoded")

// readEncoded reads a chunk of t (as ReadChunk) and encodes each row as it
// comes, so that no row's values outlive it: with a TransientReader the
// source reuses them [S9]. It returns errNotEncoded when a row cannot be
// encoded.
func (e *Engine) readEncoded(ctx context.Context, t *schema.Table, after, through []string,
	encode func([]byte, []any) ([]byte, int, error)) (*encodedRows, []string, error) {
	read := e.src.ReadChunk
	if tr, ok := e.src.(TransientReader); ok {
		read = tr.ReadChunkTransient
	}
	r := getEncoded()
	r.buf, r.ends = r.buf[:0], r.ends[:0]
	limit := e.o.ChunkSize
	last, err := read(ctx, t, after, through, limit, func(row []any) error {
		if len(t.Key) > 0 {
			r.buf = appendKeyText(r.buf, t, row)
		}
		r.ends = append(r.ends, len(r.buf))
		var keyEnd int
		var err error
		if r.buf, keyEnd, err = encode(r.buf, row); err != nil {
			return errNotEncoded
		}
		r.ends = append(r.ends, keyEnd, len(r.buf))
		if len(r.ends) == 3 && limit > 1 {
			// Size the buffer from the first row, so that it grows rarely.
			if need := len(r.buf) * limit * 9 / 8; cap(r.buf) < need {
				r.buf = append(make([]byte, 0, need), r.buf...)
			}
		}
		return nil
	})
	if err != nil {
		r.release()
		return nil, nil, err
	}
	return r, last, nil
}

// appendKeyText appends the text keyString gives the key of row.
func appendKeyText(b []byte, t *schema.Table, row []any) []byte {
	for _, k := range t.Key {
		var v any
		if k < len(row) {
			v = row[k]
		}
		switch v := v.(type) {
		case *[]byte:
			b = appendKeyPart(b, *v)
		case []byte:
			b = appendKeyPart(b, v)
		case string:
			b = strconv.AppendInt(b, int64(len(v)), 10)
			b = append(b, ':')
			b = append(b, v...)
		case int64:
			var tmp [20]byte
			b = appendKeyPart(b, strconv.AppendInt(tmp[:0], v, 10))
		case nil:
			b = appendKeyPart(b, []byte("\x00null"))
		default:
			b = appendKeyPart(b, []byte(rawText(v)))
		}
	}
	return b
}

func appendKeyPart(b, s []byte) []byte {
	b = strconv.AppendInt(b, int64(len(s)), 10)
	b = append(b, ':')
	return append(b, s...)
}

// keyString renders the key columns of a row (raw values) so that the
// same key read by a chunk and seen in the stream compare equal. A table
// without a key has no identity to compare: every row is its own.
func keyString(t *schema.Table, row []any) string {
	if len(t.Key) == 0 {
		return fmt.Sprintf("%p", row)
	}
	return string(appendKeyText(nil, t, row))
}
