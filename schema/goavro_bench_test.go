package schema

import (
	"bytes"
	"testing"

	"github.com/linkedin/goavro/v2"
)

// BenchmarkGoavroAppendValue encodes the same envelope as
// BenchmarkCodecAppendValue with goavro, the general-purpose encoder the
// hand-written one replaces: the two are to be read side by side. goavro
// starts from its native form of the event (maps of typed values), built
// once outside the loop, so the figure leaves out turning the source's
// text values into that form, which the hand-written encoder's figure
// includes: goavro's real cost is higher than this.
func BenchmarkGoavroAppendValue(b *testing.B) {
	c, ev := benchOrderInsert(b)
	want, err := c.AppendValue(nil, ev)
	if err != nil {
		b.Fatal(err)
	}
	g, err := goavro.NewCodec(c.ValueSchema)
	if err != nil {
		b.Fatal(err)
	}
	native, rest, err := g.NativeFromBinary(want)
	if err != nil || len(rest) != 0 {
		b.Fatalf("goavro cannot read the encoder's output: %v (%d bytes left)", err, len(rest))
	}
	dst, err := g.BinaryFromNative(nil, native)
	if err != nil {
		b.Fatal(err)
	}
	if !bytes.Equal(dst, want) {
		b.Fatalf("goavro encodes the event differently:\n got %x\nwant %x", dst, want)
	}
	b.ReportAllocs()
	for b.Loop() {
		dst, err = g.BinaryFromNative(dst[:0], native)
		if err != nil {
			b.Fatal(err)
		}
	}
	b.SetBytes(int64(len(dst)))
}
