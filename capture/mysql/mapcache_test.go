package mysql

import (
	"errors"
	"testing"

	"github.com/sluicecdc/sluice/schema"
)

// TestSameMap checks when a TABLE_MAP may reuse the mapping of its table
// id: same body, the version still the last delivered, nothing taken from
// information_schema.
func TestSameMap(t *testing.T) {
	id := schema.TableID{Namespace: "shop", Name: "orders"}
	plain := &schema.Table{ID: id, Columns: []schema.Column{{Name: "id", Type: "bigint"}}}
	withInfo := &schema.Table{ID: id, Columns: []schema.Column{{Name: "doc", Type: "longtext"}}}
	body := []byte{1, 2, 3}
	tests := []struct {
		name    string
		m       mapped
		current *schema.Table // s.versions[id]
		body    []byte
		want    bool
	}{
		{"same body, same version", mapped{id: id, table: plain, body: body}, plain, []byte{1, 2, 3}, true},
		{"other body", mapped{id: id, table: plain, body: body}, plain, []byte{1, 2, 4}, false},
		{"body unknown", mapped{id: id, table: plain, body: body}, plain, nil, false},
		{"mapping without body", mapped{id: id, table: plain}, plain, body, false},
		{"a newer version was delivered", mapped{id: id, table: plain, body: body}, &schema.Table{ID: id}, body, false},
		{"version took information_schema", mapped{id: id, table: withInfo, body: body}, withInfo, body, false},
		{"mapping failed", mapped{id: id, table: plain, body: body, err: errors.New("x")}, plain, body, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := &Source{versions: map[schema.TableID]*schema.Table{id: tt.current}}
			if got := s.sameMap(&tt.m, tt.body); got != tt.want {
				t.Fatalf("sameMap = %v, want %v", got, tt.want)
			}
		})
	}
}
