package snapshot

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/sluicecdc/sluice/capture"
	"github.com/sluicecdc/sluice/schema"
)

// Request is a snapshot asked for with `sluice snapshot`, written into the
// source's change stream (capture.Signal) so that it survives restarts
// and reaches the instance wherever it runs.
type Request struct {
	Name   string   `json:"name"` // the instance it is for
	ID     string   `json:"id"`
	Tables []string `json:"tables"` // "<namespace>.<table>"
}

// ParseTableID splits "<namespace>.<table>" at its first dot.
func ParseTableID(s string) (schema.TableID, error) {
	ns, name, ok := strings.Cut(s, ".")
	if !ok || ns == "" || name == "" {
		return schema.TableID{}, fmt.Errorf("table %q: want <schema-or-database>.<table>", s)
	}
	return schema.TableID{Namespace: ns, Name: name}, nil
}

// Signal takes a snapshot request for this instance: its tables that are
// captured are snapshotted while streaming, and recorded in the next
// checkpoint with the request's ID. Requests for other instances are
// ignored; so are tables this instance does not capture (sluice snapshot
// refuses them before writing the request).
func (e *Engine) Signal(ctx context.Context, s *capture.Signal) error {
	var r Request
	if err := json.Unmarshal(s.Payload, &r); err != nil {
		e.log.Warn("ignoring a malformed snapshot request in the change stream", "err", err)
		return e.next.Signal(ctx, s)
	}
	if r.Name != e.o.Name {
		return e.next.Signal(ctx, s)
	}
	var ids []schema.TableID
	for _, t := range r.Tables {
		id, err := ParseTableID(t)
		if err != nil || (e.o.Captured != nil && !e.o.Captured(id)) {
			e.log.Warn("snapshot request names a table this instance does not capture; skipped", "request", r.ID, "table", t)
			continue
		}
		ids = append(ids, id)
	}
	e.log.Info("snapshot requested", "request", r.ID, "tables", strings.Join(r.Tables, ","))
	e.Add(ids, nil, false, r.ID)
	return e.next.Signal(ctx, s)
}
