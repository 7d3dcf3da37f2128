package harness

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluicecdc/sluice/schema"
)

// Event is one decoded change record. Decoding goes through the registry
// and goavro, independent of Sluice's encoder.
type Event struct {
	Topic     string
	Partition int32
	Offset    int64
	Key       map[string]any // nil: null key
	Value     map[string]any // nil: tombstone
}

// Op returns the envelope's op ("" for a tombstone).
func (e *Event) Op() string {
	if e.Value == nil {
		return ""
	}
	s, _ := e.Value["op"].(string)
	return s
}

// After returns the after image (nil when absent).
func (e *Event) After() map[string]any { return image(e.Value, "after") }

// Before returns the before image (nil when absent).
func (e *Event) Before() map[string]any { return image(e.Value, "before") }

// Source returns the source block.
func (e *Event) Source() map[string]any { return image(e.Value, "source") }

func image(v map[string]any, k string) map[string]any {
	if v == nil {
		return nil
	}
	m, _ := v[k].(map[string]any)
	return m
}

// Reader consumes topics read_committed from the beginning.
type Reader struct {
	cl  *kgo.Client
	dec *schema.Decoder
}

// NewReader connects a reader.
func NewReader(t testing.TB, brokers []string, registryURL string, topics ...string) *Reader {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.ConsumeTopics(topics...),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.FetchMaxWait(200*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	reg, err := schema.NewRegistry(schema.RegistryOptions{URL: registryURL})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return &Reader{cl: cl, dec: schema.NewDecoder(reg)}
}

func (r *Reader) decode(ctx context.Context, b []byte) (map[string]any, error) {
	if b == nil {
		return nil, nil
	}
	j, err := r.dec.JSON(ctx, b)
	if err != nil {
		return nil, err
	}
	d := json.NewDecoder(bytes.NewReader(j))
	d.UseNumber()
	var m map[string]any
	if err := d.Decode(&m); err != nil {
		return nil, err
	}
	return m, nil
}

// Poll returns the records that arrive within wait.
func (r *Reader) Poll(ctx context.Context, wait time.Duration) ([]Event, error) {
	pctx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	fs := r.cl.PollFetches(pctx)
	var out []Event
	var ferr error
	fs.EachError(func(t string, p int32, err error) {
		if ferr == nil && pctx.Err() == nil {
			ferr = fmt.Errorf("%s[%d]: %w", t, p, err)
		}
	})
	if ferr != nil {
		return nil, ferr
	}
	for it := fs.RecordIter(); !it.Done(); {
		rec := it.Next()
		k, err := r.decode(ctx, rec.Key)
		if err != nil {
			return nil, fmt.Errorf("%s@%d key: %w", rec.Topic, rec.Offset, err)
		}
		v, err := r.decode(ctx, rec.Value)
		if err != nil {
			return nil, fmt.Errorf("%s@%d value: %w", rec.Topic, rec.Offset, err)
		}
		out = append(out, Event{Topic: rec.Topic, Partition: rec.Partition, Offset: rec.Offset, Key: k, Value: v})
	}
	return out, nil
}

// ReadUntil reads until done(all events so far) is true, failing the test
// after timeout.
func (r *Reader) ReadUntil(ctx context.Context, t testing.TB, timeout time.Duration, done func([]Event) bool) []Event {
	t.Helper()
	var all []Event
	deadline := time.Now().Add(timeout)
	for {
		if done(all) {
			return all
		}
		if time.Now().After(deadline) {
			t.Fatalf("condition not met after %s with %d events read", timeout, len(all))
		}
		evs, err := r.Poll(ctx, 500*time.Millisecond)
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, evs...)
	}
}

// Quiet reads until no record arrives for quiet, and returns the events.
func (r *Reader) Quiet(ctx context.Context, t testing.TB, quiet time.Duration) []Event {
	t.Helper()
	var all []Event
	last := time.Now()
	for time.Since(last) < quiet {
		evs, err := r.Poll(ctx, 300*time.Millisecond)
		if err != nil {
			t.Fatal(err)
		}
		if len(evs) > 0 {
			last = time.Now()
			all = append(all, evs...)
		}
	}
	return all
}

// KeyString renders a key for maps.
func KeyString(k map[string]any) string {
	b, _ := json.Marshal(k)
	return string(b)
}

// Report is what a check over a test's output found.
type Report struct {
	Events          int
	Keys            int
	Reads           int // snapshot reads (op r), each key counted once
	Duplicates      int // the same source change delivered more than once
	OrderViolations int // per key, a change delivered after a later one
	Missing         []string
}

func (r Report) String() string {
	return fmt.Sprintf("events=%d keys=%d duplicates=%d order_violations=%d missing=%d",
		r.Events, r.Keys, r.Duplicates, r.OrderViolations, len(r.Missing))
}

// Check validates per-key order and counts duplicates over change events
// (tombstones ignored), and reports which of the expected keys never had
// an event. A change is identified by key, op and source position (lsn
// for Postgres, file/pos/row for MySQL); snapshot reads by key and op.
func Check(evs []Event, expectKeys []string) Report {
	rep := Report{}
	seen := map[string]int{}
	lastPos := map[string]Pos{}
	keys := map[string]bool{}
	for i := range evs {
		e := &evs[i]
		if e.Value == nil {
			continue
		}
		rep.Events++
		k := e.Topic + "|" + KeyString(e.Key)
		keys[k] = true
		src := e.Source()
		pos := Position(src)
		id := fmt.Sprintf("%s|%s|%s|%d|%d", k, e.Op(), pos.File, pos.A, pos.B)
		if e.Op() == "r" {
			id = k + "|r"
		}
		seen[id]++
		if seen[id] > 1 {
			rep.Duplicates++
			continue
		}
		if e.Op() == "r" {
			rep.Reads++
		}
		if e.Op() != "r" {
			if lp, ok := lastPos[k]; ok && pos.Before(lp) {
				rep.OrderViolations++
			}
			lastPos[k] = pos
		}
	}
	rep.Keys = len(keys)
	for _, k := range expectKeys {
		if !keys[k] {
			rep.Missing = append(rep.Missing, k)
		}
	}
	sort.Strings(rep.Missing)
	return rep
}

// Pos is a place in a source's change stream, as an event's source block
// gives it: Postgres by LSN (A), MySQL by binlog file, then position in the
// file (A), then row in the event (B). Binlog positions restart in every
// file; file names sort in creation order (a fixed-width sequence number).
type Pos struct {
	File string
	A, B int64
}

// Before reports whether p comes before q.
func (p Pos) Before(q Pos) bool {
	if p.File != q.File {
		return p.File < q.File
	}
	return p.A < q.A || p.A == q.A && p.B < q.B
}

func (p Pos) String() string {
	if p.File == "" {
		return fmt.Sprintf("%X/%X", uint32(uint64(p.A)>>32), uint32(p.A))
	}
	return fmt.Sprintf("%s:%d#%d", p.File, p.A, p.B)
}

// Position returns the source position of an event's source block.
func Position(src map[string]any) Pos {
	num := func(k string) int64 {
		switch v := src[k].(type) {
		case json.Number:
			n, _ := v.Int64()
			return n
		}
		return 0
	}
	if lsn := num("lsn"); lsn != 0 {
		return Pos{A: lsn}
	}
	file, _ := src["file"].(string)
	return Pos{File: file, A: num("pos"), B: num("row")}
}

// Int returns a JSON number field as int64.
func Int(m map[string]any, k string) int64 {
	if n, ok := m[k].(json.Number); ok {
		v, _ := n.Int64()
		return v
	}
	return -1 << 63
}
