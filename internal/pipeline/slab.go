package pipeline

import "github.com/twmb/franz-go/pkg/kgo"

// slab carves record keys, values, kgo.Records and commit stamps out of
// larger chunks, so that encoding an event costs no allocation of its own
// in the common case.
//
// A reusing slab (the snapshot rows') keeps the first slabFree chunks of
// keys and values and of records filled since the last checkpoint commit,
// and reuses them after the next one, which covers every record carved
// from them [I8]; until then a record's bytes are never overwritten. A
// snapshot commits every few chunks of rows, so that keeps its hundreds of
// megabytes of records from being allocated afresh: each allocation
// brought the garbage collector's next cycle closer, and with it the write
// barriers that slowed every goroutine while it ran. The stream's slab
// does not reuse: a drain commits every checkpoint.max_events changes, and
// keeping its chunks until then, rather than letting each go once Kafka
// acknowledged its records, quadrupled its peak RSS. Stamps are never
// reused: franz-go's wait for a new topic's partitions keeps the first
// record's Context, and may read it after the record is delivered.
type slab struct {
	reuse  bool          // keep chunks for reuse after a commit
	buf    []byte        // current byte chunk; its length is what is carved
	recs   []kgo.Record  // current record chunk
	nrec   int           // records carved from recs
	stamps []commitStamp // current stamp chunk, never reused

	spent slabChunks // chunks filled since the last commit, up to slabFree of each kind
	free  slabChunks // chunks that no record refers to any more [I8]
}

// slabChunks are chunks of each kind that is reused.
type slabChunks struct {
	bufs [][]byte
	recs [][]kgo.Record
}

const (
	slabBytes   = 64 << 10
	slabRecords = 256
	// slabFree bounds the chunks of each kind kept for reuse: more than
	// a snapshot commits at a time with the default chunk_size (two
	// 10,000-row chunks of 300-byte records, about 90 chunks of bytes),
	// and at most 16 MiB of bytes and 11 MiB of records.
	slabFree = 256
)

// bytes returns an empty slice with at least hint bytes of room at the
// free end of the current chunk. After appending to it, call used.
func (s *slab) bytes(hint int) []byte {
	if cap(s.buf)-len(s.buf) < hint {
		if hint > slabBytes {
			// Its own array, never reused: kept apart from the chunks.
			return make([]byte, 0, hint)
		}
		if cap(s.buf) > 0 && s.reuse && len(s.spent.bufs) < slabFree {
			s.spent.bufs = append(s.spent.bufs, s.buf)
		}
		s.buf = take(&s.free.bufs)
		if s.buf == nil {
			s.buf = make([]byte, 0, slabBytes)
		}
		s.buf = s.buf[:0]
	}
	return s.buf[len(s.buf):len(s.buf)]
}

// used marks b, a slice from bytes grown by appends, as taken. If the
// appends outgrew the chunk, b has its own array and the chunk is left as
// it was.
func (s *slab) used(b []byte) {
	free := s.buf[len(s.buf):cap(s.buf)]
	if len(b) == 0 || len(free) < len(b) || &b[0] != &free[0] {
		return
	}
	s.buf = s.buf[:len(s.buf)+len(b)]
}

// record returns a zero kgo.Record carved from the current chunk.
func (s *slab) record() *kgo.Record {
	if s.nrec == len(s.recs) {
		if s.recs != nil && s.reuse && len(s.spent.recs) < slabFree {
			s.spent.recs = append(s.spent.recs, s.recs)
		}
		if s.recs = take(&s.free.recs); s.recs != nil {
			clear(s.recs)
		} else {
			s.recs = make([]kgo.Record, slabRecords)
		}
		s.nrec = 0
	}
	r := &s.recs[s.nrec]
	s.nrec++
	return r
}

// newStamp returns a zero commit stamp carved from the current chunk.
func (s *slab) newStamp() *commitStamp {
	if len(s.stamps) == 0 {
		s.stamps = make([]commitStamp, slabRecords)
	}
	st := &s.stamps[0]
	s.stamps = s.stamps[1:]
	return st
}

// committed makes every chunk of keys and values and of records
// reusable: call it only after a checkpoint
// commit returned nil, which means that Kafka acknowledged every record
// carved so far and the producer no longer refers to any [I8].
func (s *slab) committed() {
	if !s.reuse {
		return
	}
	s.buf = s.buf[:0]
	clear(s.recs[:s.nrec])
	s.nrec = 0
	s.free.bufs = keep(s.free.bufs, s.spent.bufs)
	s.free.recs = keep(s.free.recs, s.spent.recs)
	s.spent = slabChunks{bufs: s.spent.bufs[:0], recs: s.spent.recs[:0]}
}

// take pops a chunk off a free list, nil when it is empty.
func take[T any](free *[]T) T {
	var c T
	if n := len(*free); n > 0 {
		c, (*free)[n-1] = (*free)[n-1], c
		*free = (*free)[:n-1]
	}
	return c
}

// keep appends spent chunks to a free list, up to slabFree of them; the
// others are left to the garbage collector. It clears spent's entries.
func keep[T any](free, spent []T) []T {
	n := min(len(spent), slabFree-len(free))
	free = append(free, spent[:max(n, 0)]...)
	clear(spent)
	return free
}
