package emit

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// TestCheckpointOnlyAfterEventsAcknowledged: at-least-once, Commit sends
// its tail (the checkpoint) only once every event before it is
// acknowledged, so a checkpoint never gets ahead of an event that then
// fails [I2]. The checkpoint's partition is led by another broker than the
// events', so nothing but Commit's order keeps the checkpoint from being
// written while the events' answer is pending; that answer comes late, and
// is a refusal.
func TestCheckpointOnlyAfterEventsAcknowledged(t *testing.T) {
	c := newCluster(t, kfake.NumBrokers(2))
	for p := range int32(3) {
		if err := c.MoveTopicPartition(eventsTopic, p, 0); err != nil {
			t.Fatal(err)
		}
	}
	if err := c.MoveTopicPartition(offsetsTopic, 0, 1); err != nil {
		t.Fatal(err)
	}
	c.ControlKey(int16(kmsg.Produce), func(kreq kmsg.Request) (kmsg.Response, error, bool) {
		c.KeepControl()
		if c.CurrentNode() != 0 { // not the events' broker
			return nil, nil, false
		}
		c.SleepControl(func() { time.Sleep(300 * time.Millisecond) })
		return produceErrorResponse(kreq, kerr.InvalidRecord.Code), nil, true
	})
	p := newProducer(t, c, false, Options{})
	produce(t, p, "a", "b", "c")
	err := p.Commit(context.Background(), checkpointRecord("1"))
	if !errors.Is(err, kerr.InvalidRecord) {
		t.Fatalf("Commit: %v; want the events' INVALID_RECORD", err)
	}
	c.DropControl()
	if got := committed(t, c, offsetsTopic); len(got) != 0 {
		t.Errorf("a checkpoint was stored although the events before it failed: %v", got)
	}
}
