package schema

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/twmb/franz-go/pkg/sr/srfake"
)

// TestRegisterShared: concurrent registrations of one schema make one
// request; a caller whose ctx ends stops waiting with its ctx's error and
// does not cancel the request the others wait for.
func TestRegisterShared(t *testing.T) {
	fake := srfake.New()
	defer fake.Close()
	var posts atomic.Int32
	held := make(chan struct{}, 1)
	release := make(chan struct{})
	fake.Intercept(func(w http.ResponseWriter, r *http.Request) bool {
		if r.Method == http.MethodPost && strings.HasPrefix(r.URL.Path, "/subjects/") {
			posts.Add(1)
			select {
			case held <- struct{}{}:
			default:
			}
			<-release
		}
		return false
	})
	reg, err := NewRegistry(RegistryOptions{URL: fake.URL()})
	if err != nil {
		t.Fatal(err)
	}
	const sch = `{"type":"record","name":"v","fields":[{"name":"id","type":"long"}]}`
	type result struct {
		id  int
		err error
	}
	register := func(ctx context.Context) <-chan result {
		ch := make(chan result, 1)
		go func() {
			id, err := reg.Register(ctx, "t-value", sch)
			ch <- result{id, err}
		}()
		return ch
	}
	cancelled, cancel := context.WithCancel(context.Background())
	first := register(cancelled)
	<-held // the request is at the registry
	others := []<-chan result{register(context.Background()), register(context.Background())}
	cancel()
	// The cancelled caller returns while the registry holds the request.
	if r := <-first; !errors.Is(r.err, context.Canceled) || !errors.Is(r.err, ErrRegistry) {
		t.Errorf("cancelled caller: %d, %v; want the registry error with context.Canceled", r.id, r.err)
	}
	close(release)
	var id int
	for i, ch := range others {
		r := <-ch
		if r.err != nil || r.id == 0 || (id != 0 && r.id != id) {
			t.Errorf("caller %d: id %d, %v", i+1, r.id, r.err)
		}
		id = r.id
	}
	if n := posts.Load(); n != 1 {
		t.Errorf("%d registration requests, want 1", n)
	}
	// Cached: no request.
	if got, err := reg.Register(context.Background(), "t-value", sch); err != nil || got != id || posts.Load() != 1 {
		t.Errorf("again: id %d, %v, %d requests", got, err, posts.Load())
	}
}
