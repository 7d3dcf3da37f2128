package checkpoint

import (
	"testing"
)

func TestLSNRoundTrip(t *testing.T) {
	for _, s := range []string{"0/0", "0/16B3748", "1/0", "FFFFFFFF/FFFFFFFF"} {
		l, err := ParseLSN(s)
		if err != nil {
			t.Fatalf("%s: %v", s, err)
		}
		if l.String() != s {
			t.Errorf("%s -> %s", s, l)
		}
	}
	for _, bad := range []string{"", "0", "x/1", "1/", "/1", "100000000/0"} {
		if _, err := ParseLSN(bad); err == nil {
			t.Errorf("%q parsed", bad)
		}
	}
}

func TestCheckpointRecord(t *testing.T) {
	c := &Checkpoint{Position: Position{LSN: 42}, SnapshotDone: true, ServerID: "7", Slot: "s"}
	r, err := Record("_sluice.x.offsets", "x", c)
	if err != nil {
		t.Fatal(err)
	}
	if string(r.Key) != "x" || r.Topic != "_sluice.x.offsets" {
		t.Fatalf("record %v", r)
	}
	got, err := Unmarshal(r.Value)
	if err != nil {
		t.Fatal(err)
	}
	if got.Position != c.Position || !got.SnapshotDone || got.ServerID != "7" || got.Version != 1 {
		t.Errorf("round trip: %+v", got)
	}
	if _, err := Unmarshal([]byte(`{"version":2}`)); err == nil {
		t.Error("a checkpoint of an unknown version was accepted")
	}
}

// FuzzParseLSN: no panic, and every accepted LSN prints back to a value
// that parses to the same LSN.
func FuzzParseLSN(f *testing.F) {
	for _, s := range []string{"0/0", "16/B374D848", "ffffffff/0", "1/1/1", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		l, err := ParseLSN(s)
		if err != nil {
			return
		}
		back, err := ParseLSN(l.String())
		if err != nil || back != l {
			t.Fatalf("%q -> %v -> %v, %v", s, l, back, err)
		}
	})
}

// FuzzUnmarshal: checkpoint records come from a Kafka topic anyone with
// write access can write to; decoding never panics.
func FuzzUnmarshal(f *testing.F) {
	f.Add([]byte(`{"version":1,"position":{"lsn":"0/16B3748"},"snapshot_done":true}`))
	f.Add([]byte(`{"version":1,"position":{"file":"mysql-bin.000003","pos":4,"gtid_set":"0-1-100"}}`))
	f.Add([]byte(`{"version":1,"position":{"lsn":"zz"}}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := Unmarshal(b)
		if err == nil && c.Version != 1 {
			t.Fatalf("accepted version %d", c.Version)
		}
	})
}
