package pipeline

import (
	"bytes"
	"testing"

	"github.com/twmb/franz-go/pkg/kgo"
)

func TestSlabNeverOverwrites(t *testing.T) {
	var s slab
	var taken [][]byte
	want := [][]byte{}
	for i := 0; i < 5000; i++ {
		n := 1 + i%700
		if i%997 == 0 {
			n = slabBytes + 10 // outgrows any chunk
		}
		b := s.bytes(64)
		for j := 0; j < n; j++ {
			b = append(b, byte(i+j))
		}
		s.used(b)
		taken = append(taken, b)
		want = append(want, bytes.Clone(b))
		if i%3 == 0 {
			// an abandoned encoding (an error) leaves its bytes unused
			_ = append(s.bytes(16), 1, 2, 3)
		}
	}
	for i := range taken {
		if !bytes.Equal(taken[i], want[i]) {
			t.Fatalf("slice %d was overwritten", i)
		}
	}
	r1, r2 := s.record(), s.record()
	if r1 == r2 {
		t.Fatal("the same record twice")
	}
}

// TestSlabReusesOnlyAfterCommit holds the slab to [I8]: nothing carved
// since the last commit is overwritten, however much is carved after it,
// and after a commit the chunks are reused, not allocated again (but
// for commit stamps, never reused).
func TestSlabReusesOnlyAfterCommit(t *testing.T) {
	s := slab{reuse: true}
	carve := func(n int, fill byte) ([][]byte, []*kgo.Record) {
		var bs [][]byte
		var rs []*kgo.Record
		for i := range n {
			b := append(s.bytes(300), bytes.Repeat([]byte{fill}, 300)...)
			s.used(b)
			r := s.record()
			if r.Value != nil || r.Context != nil {
				t.Fatalf("record %d is not zero: %+v", i, r)
			}
			r.Value, r.Context = b, s.newStamp()
			bs, rs = append(bs, b), append(rs, r)
		}
		return bs, rs
	}
	check := func(bs [][]byte, rs []*kgo.Record, fill byte) {
		t.Helper()
		for i, b := range bs {
			if !bytes.Equal(b, bytes.Repeat([]byte{fill}, 300)) || &rs[i].Value[0] != &b[0] {
				t.Fatalf("record %d was overwritten before a commit", i)
			}
		}
	}
	// More than the free list keeps, so that some chunks are dropped.
	n := (slabFree + 10) * slabBytes / 300
	bs, rs := carve(n, 1)
	bs2, rs2 := carve(1000, 2)
	check(bs, rs, 1)
	check(bs2, rs2, 2)
	s.committed()
	if len(s.free.bufs) != slabFree || len(s.spent.bufs) != 0 {
		t.Fatalf("free byte chunks %d (want %d), spent %d", len(s.free.bufs), slabFree, len(s.spent.bufs))
	}
	payload := bytes.Repeat([]byte{3}, 300)
	allocs := testing.AllocsPerRun(1, func() {
		for range 1000 {
			s.used(append(s.bytes(300), payload...))
			s.record().Value = payload
		}
	})
	if allocs > 2 {
		t.Fatalf("%v allocations carving 1,000 records after a commit; want the chunks reused", allocs)
	}
}

// TestSlabWithoutReuseKeepsNothing: the stream's slab lets every chunk go
// once its records are delivered; a commit keeps none for later.
func TestSlabWithoutReuseKeepsNothing(t *testing.T) {
	var s slab
	for range 10_000 {
		s.used(append(s.bytes(300), make([]byte, 300)...))
		s.record()
	}
	s.committed()
	if len(s.spent.bufs)+len(s.spent.recs)+len(s.free.bufs)+len(s.free.recs) != 0 {
		t.Fatalf("a slab without reuse kept chunks: %+v %+v", len(s.spent.bufs), len(s.free.bufs))
	}
}
