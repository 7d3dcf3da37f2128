package schema

import (
	"context"
	"crypto/tls"
	"encoding/binary"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/sr"
	"golang.org/x/sync/singleflight"
)

// Registry registers schemas with a Confluent-compatible schema registry
// and caches their ids, so the hot path never does network I/O.
type Registry struct {
	cl   *sr.Client
	url  string // the configured base URL, for fix hints
	auth bool   // basic auth is configured

	mu   sync.Mutex
	ids  map[string]int // subject + "\x00" + schema -> id
	byID map[int]string // id -> schema, for decoding
	// flight makes concurrent registrations of one schema one request:
	// a table's schemas are registered ahead of its first event
	// (pipeline.Prepare) while that event may already want them.
	flight singleflight.Group
}

// RegistryOptions configure the registry client.
type RegistryOptions struct {
	URL      string
	Username string
	Password string
	TLS      *tls.Config
}

// NewRegistry returns a client for the registry at o.URL.
func NewRegistry(o RegistryOptions) (*Registry, error) {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = o.TLS
	opts := []sr.ClientOpt{
		sr.URLs(o.URL),
		sr.HTTPClient(&http.Client{Transport: tr, Timeout: 30 * time.Second}),
		sr.UserAgent("sluice"),
	}
	if o.Username != "" {
		opts = append(opts, sr.BasicAuth(o.Username, o.Password))
	}
	cl, err := sr.NewClient(opts...)
	if err != nil {
		return nil, fmt.Errorf("%w %s: %w", ErrRegistry, o.URL, err)
	}
	return &Registry{cl: cl, url: o.URL, auth: o.Username != "", ids: map[string]int{}, byID: map[int]string{}}, nil
}

// Client returns the underlying franz-go client.
func (r *Registry) Client() *sr.Client { return r.cl }

// Register registers an Avro schema under subject (idempotent: an identical
// schema returns its existing id) and returns its id. Concurrent calls for
// one schema share one request, which no one caller's ctx cancels: a
// caller whose ctx ends stops waiting, and the others still get the id.
func (r *Registry) Register(ctx context.Context, subject, schema string) (int, error) {
	k := subject + "\x00" + schema
	r.mu.Lock()
	id, ok := r.ids[k]
	r.mu.Unlock()
	if ok {
		return id, nil
	}
	ch := r.flight.DoChan(k, func() (any, error) {
		// Bounded by the HTTP client's timeout.
		return r.register(context.WithoutCancel(ctx), subject, schema)
	})
	select {
	case res := <-ch:
		if res.Err != nil {
			return 0, res.Err
		}
		return res.Val.(int), nil
	case <-ctx.Done():
		return 0, fmt.Errorf("%w: register subject %q: %w", ErrRegistry, subject, ctx.Err())
	}
}

func (r *Registry) register(ctx context.Context, subject, schema string) (int, error) {
	ss, err := r.cl.CreateSchema(ctx, subject, sr.Schema{Schema: schema, Type: sr.TypeAvro})
	if err != nil {
		var re *sr.ResponseError
		if errors.As(err, &re) && re.StatusCode == http.StatusConflict {
			return 0, fmt.Errorf("schema registry rejected a new schema for subject %q as incompatible with the previous version (%s); "+
				"a column type change is not backward compatible: if the consumers can cope, set that subject's compatibility to NONE, then restart: %s: %w: %w",
				subject, re.Message, RelaxHint(r.url, subject, r.auth), ErrIncompatible, err)
		}
		return 0, fmt.Errorf("%w: register subject %q: %w", ErrRegistry, subject, err)
	}
	r.mu.Lock()
	r.ids[subject+"\x00"+schema] = ss.ID
	r.byID[ss.ID] = schema
	r.mu.Unlock()
	return ss.ID, nil
}

// SchemaByID returns the schema text of id, from cache or the registry.
func (r *Registry) SchemaByID(ctx context.Context, id int) (string, error) {
	r.mu.Lock()
	s, ok := r.byID[id]
	r.mu.Unlock()
	if ok {
		return s, nil
	}
	sch, err := r.cl.SchemaByID(ctx, id)
	if err != nil {
		return "", fmt.Errorf("%w: schema id %d: %w", ErrRegistry, id, err)
	}
	r.mu.Lock()
	r.byID[id] = sch.Schema
	r.mu.Unlock()
	return sch.Schema, nil
}

// Ping checks that the registry answers.
func (r *Registry) Ping(ctx context.Context) error {
	_, err := r.cl.Subjects(ctx)
	if err != nil {
		return fmt.Errorf("%w not reachable: %w", ErrRegistry, err)
	}
	return nil
}

// ErrRegistry matches (errors.Is) every error of a request to the schema
// registry; its text is the start of their messages.
var ErrRegistry = errors.New("schema registry")

// ErrIncompatible reports a schema the registry rejected as incompatible
// with the subject's previous version.
var ErrIncompatible = errors.New("schema incompatible with the previous version")

// WireHeaderLen is the length of the Confluent wire-format header.
const WireHeaderLen = 5

// AppendWireHeader appends the Confluent wire-format header: magic byte 0
// and the 4-byte big-endian schema id.
func AppendWireHeader(dst []byte, id int) []byte {
	dst = append(dst, 0)
	return binary.BigEndian.AppendUint32(dst, uint32(id))
}

// ErrNotWireFormat reports bytes without the Confluent wire-format header.
var ErrNotWireFormat = errors.New("not Confluent wire format (want magic byte 0 and a 4-byte schema id)")

// ParseWireHeader splits a Confluent-framed message into schema id and
// Avro payload.
func ParseWireHeader(b []byte) (id int, payload []byte, err error) {
	if len(b) < WireHeaderLen || b[0] != 0 {
		return 0, nil, ErrNotWireFormat
	}
	return int(binary.BigEndian.Uint32(b[1:5])), b[5:], nil
}
