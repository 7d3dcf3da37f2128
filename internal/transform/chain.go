package transform

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"path"
	"strings"

	"github.com/sluicecdc/sluice/internal/config"
	"github.com/sluicecdc/sluice/schema"
)

// Chain is the configured transforms of one instance. It is immutable and
// safe for concurrent use.
type Chain struct {
	kind   schema.SourceKind
	name   string // the instance's name: topic prefix and source.name
	log    *slog.Logger
	masks  map[string][]*maskSpec // "ns.table" -> its masked columns
	unwrap []*unwrapSpec
	outbox map[string]*outboxSpec // "ns.table" -> its router
}

// New builds the chain of the configuration's transforms (already
// validated by config.Load) for a source of the given kind.
func New(cfgs []config.Transform, kind schema.SourceKind, name string, log *slog.Logger) (*Chain, error) {
	if log == nil {
		log = slog.Default()
	}
	c := &Chain{kind: kind, name: name, log: log, masks: map[string][]*maskSpec{}, outbox: map[string]*outboxSpec{}}
	for i := range cfgs {
		t := &cfgs[i]
		switch t.Type {
		case config.TransformMask:
			for _, col := range t.Columns {
				dot := strings.LastIndexByte(col, '.')
				c.masks[col[:dot]] = append(c.masks[col[:dot]], newMask(i, t, col[dot+1:], col))
			}
		case config.TransformUnwrap:
			u, err := newUnwrap(i, t, kind)
			if err != nil {
				return nil, err
			}
			c.unwrap = append(c.unwrap, u)
		case config.TransformOutbox:
			o, err := newOutbox(i, t)
			if err != nil {
				return nil, err
			}
			if t.Prefix != "" {
				c.outbox[MessageTableID(t.Prefix).String()] = o
			} else {
				c.outbox[t.Table] = o
			}
		default:
			return nil, &config.Error{Key: config.TransformKey(i, "type"), Value: t.Type, Msg: "is not a transform type; use outbox, unwrap or mask"}
		}
	}
	return c, nil
}

// Shape is the form of the records a table's changes become.
type Shape int

// Shapes.
const (
	Envelope Shape = iota // the Debezium envelope (masking only)
	Unwrap                // the new row state
	Outbox                // routed outbox events
)

// Plan is what the chain does to one table version.
type Plan struct {
	Shape Shape
	// Table is the version to build the codec from: the source's, or a
	// copy in which null-masked columns are nullable.
	Table *schema.Table
	// Override holds the types of the masked columns, for
	// schema.CodecOptions.
	Override map[string]schema.ColumnType

	masks  []boundMask // in column order
	unwrap *unwrapSpec
	outbox *outboxSpec
}

// For returns the plan of a table version, or nil when no transform
// applies to it. exclude names the table's columns that are never
// emitted. An error is a *config.Error: the configuration does not fit
// the table.
func (c *Chain) For(t *schema.Table, exclude map[string]bool) (*Plan, error) {
	id := t.ID.String()
	p := &Plan{Table: t}
	if ms := c.masks[id]; len(ms) > 0 {
		if err := p.bindMasks(t, ms); err != nil {
			return nil, err
		}
	}
	for _, u := range c.unwrap {
		if u.matches(id) {
			p.Shape, p.unwrap = Unwrap, u
			break
		}
	}
	if o := c.outbox[id]; o != nil {
		if err := o.check(t, exclude); err != nil {
			return nil, err
		}
		p.Shape, p.outbox = Outbox, o
	}
	if p.Shape == Envelope && len(p.masks) == 0 {
		return nil, nil
	}
	return p, nil
}

// Registrar registers a schema under a subject and returns its id
// (*schema.Registry).
type Registrar interface {
	Register(ctx context.Context, subject, schema string) (int, error)
}

// EnsureTopic creates a topic when it is missing.
type EnsureTopic func(ctx context.Context, topic string) error

// NewEncoder returns the encoder of a table version under plan p. codec
// is the table's codec, built from p.Table with p.Override, for topic
// (the table's change topic).
func (c *Chain) NewEncoder(p *Plan, codec *schema.Codec, reg Registrar, ensure EnsureTopic) *Encoder {
	return &Encoder{chain: c, plan: p, codec: codec, reg: reg, ensure: ensure, topics: map[string]*topicState{}}
}

// matchTable reports whether pattern (path.Match syntax) matches the
// table "ns.name".
func matchTable(pattern, table string) bool {
	ok, _ := path.Match(pattern, table)
	return ok
}

func mustJSON(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic(fmt.Sprintf("transform: schema not serialisable: %v", err))
	}
	return string(b)
}

// Applies reports whether any transform applies to the table.
func (c *Chain) Applies(id schema.TableID) bool {
	s := id.String()
	if len(c.masks[s]) > 0 || c.outbox[s] != nil {
		return true
	}
	for _, u := range c.unwrap {
		if u.matches(s) {
			return true
		}
	}
	return false
}
