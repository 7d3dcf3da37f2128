package pipeline

import "github.com/twmb/franz-go/pkg/kgo"

// slab carves record keys, values and kgo.Records out of larger
// allocations, so that encoding an event costs no allocation of its own
// in the common case. A chunk stays alive while any record carved from it
// is buffered in the producer; chunks are never reused, only dropped, so a
// record's bytes are never overwritten.
type slab struct {
	buf    []byte
	recs   []kgo.Record
	stamps []commitStamp
}

const (
	slabBytes   = 64 << 10
	slabRecords = 256
)

// bytes returns an empty slice with at least hint bytes of room at the
// free end of the current chunk. After appending to it, call used.
func (s *slab) bytes(hint int) []byte {
	if cap(s.buf)-len(s.buf) < hint {
		s.buf = make([]byte, 0, max(slabBytes, hint))
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
	if len(s.recs) == 0 {
		s.recs = make([]kgo.Record, slabRecords)
	}
	r := &s.recs[0]
	s.recs = s.recs[1:]
	return r
}
