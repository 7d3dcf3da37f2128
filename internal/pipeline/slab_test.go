package pipeline

import (
	"bytes"
	"testing"
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
