package checkpoint

import "slices"

// SnapshotState is the progress of the table snapshots under way. It is
// written in every checkpoint, in the same commit as the events it counts
// (exactly-once: the same Kafka transaction), so that the chunks it names
// as delivered are exactly those a consumer sees.
type SnapshotState struct {
	Tables []TableSnapshot `json:"tables"`
	// Finished lists the last requests (`sluice snapshot`) whose tables
	// are all done, newest last, so that a waiting client learns of it.
	Finished []string `json:"finished,omitempty"`
}

// maxFinished is how many finished requests a state remembers.
const maxFinished = 16

// Finish records a request as finished.
func (s *SnapshotState) Finish(id string) {
	s.Finished = append(s.Finished, id)
	if n := len(s.Finished); n > maxFinished {
		s.Finished = s.Finished[n-maxFinished:]
	}
}

// TableSnapshot is one table's snapshot progress.
type TableSnapshot struct {
	Namespace string `json:"namespace"`
	Name      string `json:"name"`
	// LastKey is the text of the key columns of the last row of the last
	// chunk delivered, in key order; nil before the first chunk. The next
	// chunk starts after it.
	LastKey []string `json:"last_key,omitempty"`
	// Through is the key of the table's last row when its snapshot
	// started (for the initial snapshot: at the slot's consistent point):
	// the snapshot reads up to it, and rows inserted later beyond it come
	// from the stream. Bounded says it is set; Through stays nil for a
	// table that was empty.
	Through []string `json:"through,omitempty"`
	Bounded bool     `json:"bounded,omitempty"`
	// Rows counts the rows delivered so far; Total is the estimate taken
	// when the table's snapshot started.
	Rows  int64 `json:"rows"`
	Total int64 `json:"total,omitempty"`
	// Initial marks a table of the initial snapshot (as opposed to one
	// asked for with `sluice snapshot` or newly included).
	Initial bool `json:"initial,omitempty"`
	// Request identifies the request that asked for the table, when one
	// did.
	Request string `json:"request,omitempty"`
	// Ranges, when set, are the key ranges the table is read in, in
	// parallel, fixed when its snapshot started; each records its own
	// progress and LastKey is unused. A state without them is one range
	// up to Through, resuming after LastKey. (A release that does not
	// know Ranges would read the table again from LastKey, so a
	// checkpoint with them is not for one.)
	Ranges []KeyRange `json:"ranges,omitempty"`
}

// KeyRange is one key range of a table's snapshot: the rows after After
// (nil: from the first) up to Through, inclusive.
type KeyRange struct {
	After   []string `json:"after,omitempty"`
	Through []string `json:"through"`
	// LastKey is the key of the last row of the range's last chunk
	// delivered, nil before its first; Done says its last chunk was.
	LastKey []string `json:"last_key,omitempty"`
	Done    bool     `json:"done,omitempty"`
}

// Clone returns a deep copy.
func (t TableSnapshot) Clone() TableSnapshot {
	t.LastKey = slices.Clone(t.LastKey)
	t.Through = slices.Clone(t.Through)
	if t.Ranges != nil {
		rs := make([]KeyRange, len(t.Ranges))
		for i, r := range t.Ranges {
			rs[i] = KeyRange{After: slices.Clone(r.After), Through: slices.Clone(r.Through), LastKey: slices.Clone(r.LastKey), Done: r.Done}
		}
		t.Ranges = rs
	}
	return t
}

// Clone returns a deep copy (nil for nil).
func (s *SnapshotState) Clone() *SnapshotState {
	if s == nil {
		return nil
	}
	c := &SnapshotState{Tables: make([]TableSnapshot, len(s.Tables)), Finished: slices.Clone(s.Finished)}
	for i, t := range s.Tables {
		c.Tables[i] = t.Clone()
	}
	return c
}
