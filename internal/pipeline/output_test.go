package pipeline

import (
	"context"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluicecdc/sluice/checkpoint"
)

// TestPrepareAhead: Prepare makes a table's topic and schemas while the
// caller goes on; the table's first event, handed over while those
// requests are still under way, waits for them instead of making its own
// (Topics and Registry share them), and is delivered: one CreateTopics
// and one registration of each schema.
func TestPrepareAhead(t *testing.T) {
	e := setup(t, true)
	var posts, creates atomic.Int32
	held := make(chan struct{}, 1)
	release := make(chan struct{})
	e.reg.Intercept(func(w http.ResponseWriter, r *http.Request) bool {
		if r.Method == http.MethodPost && strings.HasPrefix(r.URL.Path, "/subjects/test.public.t-") {
			posts.Add(1)
			select {
			case held <- struct{}{}:
			default:
			}
			<-release
		}
		return false
	})
	e.cluster.ControlKey(int16(kmsg.CreateTopics), func(kreq kmsg.Request) (kmsg.Response, error, bool) {
		e.cluster.KeepControl()
		for _, rt := range kreq.(*kmsg.CreateTopicsRequest).Topics {
			if rt.Topic == "test.public.t" {
				creates.Add(1)
			}
		}
		return nil, nil, false
	})
	ctx := context.Background()
	e.p.Prepare(ctx, table) // returns at once
	<-held
	done := make(chan error, 1)
	go func() { done <- e.p.Change(ctx, insert("1")) }()
	close(release)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if err := e.p.Commit(ctx, checkpoint.Position{LSN: 20}); err != nil {
		t.Fatal(err)
	}
	if n := posts.Load(); n != 2 {
		t.Errorf("%d schema registrations, want 2 (key and value)", n)
	}
	if n := creates.Load(); n != 1 {
		t.Errorf("%d CreateTopics of the table's topic, want 1", n)
	}
	n := 0
	if err := checkpoint.ReadTopic(ctx, e.opts, "test.public.t", func(*kgo.Record) error { n++; return nil }); err != nil || n != 1 {
		t.Errorf("%d events in the topic (%v), want 1", n, err)
	}
}
