package pipeline

import (
	"context"
	"errors"
	"time"

	"github.com/sluicecdc/sluice/capture"
	"github.com/sluicecdc/sluice/schema"
)

// Snapshot rows encoded on the snapshot's reader goroutines
// (snapshot.RowEncoding): a reader encodes a chunk's keys and row images
// as soon as it has read them, in parallel with the source's goroutine,
// which then only frames each row with its source block at the chunk's
// hand-over and produces it, in the same order and under the same
// checkpoints as any other event [I1..I5]. The rows of a table a
// transform applies to are handed over unencoded and take Change.

// RowEncoder returns an encoder of the rows of table version t for one
// reader goroutine, or nil when t's rows must go through Change (a
// transform applies to it, or its mapping fails: Change reports that).
// It is safe to call from any goroutine: it reads only the options.
func (p *Pipeline) RowEncoder(t *schema.Table) func(dst []byte, row []any) ([]byte, int, error) {
	codec := p.untransformedCodec(t)
	if codec == nil {
		return nil
	}
	return (&rowEncoder{codec: codec}).append
}

// rowEncoder encodes the rows of one table version for EmitRead.
type rowEncoder struct {
	codec *schema.Codec
}

// append appends the Avro key record and then the Avro value record of a
// row (raw values in the table's column order) to dst, and returns dst
// and where the key ends in it. An error is a value that cannot be
// represented: the row must then be handed over with Change, which
// reports it.
func (e *rowEncoder) append(dst []byte, row []any) ([]byte, int, error) {
	var err error
	if e.codec.HasKey() {
		if dst, err = e.codec.AppendKey(dst, row); err != nil {
			return dst, 0, err
		}
	}
	keyEnd := len(dst)
	dst, err = e.codec.AppendRecord(dst, row)
	return dst, keyEnd, err
}

// errNotEncodable reports a row handed to EmitRead for a table whose rows
// RowEncoder does not encode.
var errNotEncodable = errors.New("pipeline: a snapshot row encoded ahead for a table whose rows take Change")

// EmitRead produces a snapshot row (c.Op OpRead, c.Table and c.Source set,
// c.After nil) whose key and value records a RowEncoder of c.Table
// encoded.
func (p *Pipeline) EmitRead(ctx context.Context, c *capture.Change, key, row []byte) error {
	if p.err != nil {
		return p.err
	}
	st, err := p.state(ctx, c.Table)
	if err != nil {
		return p.produce(ctx, c, nil, nil, err)
	}
	if st.tf != nil {
		return p.stop(errNotEncodable)
	}
	s := &p.readSlab
	var k []byte
	if st.codec.HasKey() {
		k = append(schema.AppendWireHeader(s.bytes(5+len(key)), st.keyID), key...)
		s.used(k)
	}
	// The rows of a chunk share their source block but for the first and
	// last rows' snapshot markers: it is encoded once per run of equal
	// ones.
	if p.readSource.codec != st.codec || p.readSource.info != c.Source {
		p.readSource.codec, p.readSource.info = st.codec, c.Source
		p.readSource.block = st.codec.AppendSource(p.readSource.block[:0], &c.Source)
		p.readSource.rows = 0
	}
	// The processing time (ts_ms, ts_us, the record's timestamp) is read
	// at the first row of a hand-over (its source block changes with every
	// chunk) and every readClockRows rows after: the rows of a chunk are
	// handed over in one loop, so it is behind by well under a
	// millisecond, and the clock, read per row, took 5% of a snapshot's CPU.
	if p.readSource.rows%readClockRows == 0 {
		p.readSource.now = time.Now()
	}
	p.readSource.rows++
	now := p.readSource.now
	v := schema.AppendWireHeader(s.bytes(len(row)+len(p.readSource.block)+64), st.valueID)
	if v, err = st.codec.AppendValue(v, &schema.Event{
		Op: byte(c.Op), AfterRecord: row, SourceRecord: p.readSource.block, TsMs: now.UnixMilli(), TsUs: now.UnixMicro(),
	}); err != nil {
		return p.produce(ctx, c, nil, nil, err)
	}
	s.used(v)
	rec := s.record()
	rec.Topic, rec.Key, rec.Value, rec.Timestamp = st.codec.Topic, k, v, now
	return p.produce(ctx, c, rec, nil, nil)
}

// readSource is a source block EmitRead encoded, with what it encodes,
// and the processing time of its rows.
type readSource struct {
	codec *schema.Codec
	info  capture.SourceInfo
	block []byte
	now   time.Time
	rows  int // rows EmitRead produced with this block
}

// readClockRows: EmitRead reads the clock once per this many rows of a
// block (see EmitRead).
const readClockRows = 64
