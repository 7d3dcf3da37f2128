package postgres

import (
	"testing"

	"github.com/sluicecdc/sluice/schema"
)

func TestChunkQuery(t *testing.T) {
	keyed := &schema.Table{ID: schema.TableID{Namespace: "public", Name: "Order"}, Key: []int{1, 0},
		Columns: []schema.Column{{Name: "a"}, {Name: "b"}, {Name: "c"}}}
	keyless := &schema.Table{ID: schema.TableID{Namespace: "public", Name: "log"}, Columns: []schema.Column{{Name: "msg"}}}
	tests := []struct {
		name           string
		t              *schema.Table
		after, through []string
		want           string
	}{
		{"first chunk", keyed, nil, []string{"9", "x"},
			`COPY (SELECT "a", "b", "c" FROM "public"."Order" WHERE ("b", "a") <= (E'9', E'x') ORDER BY "b", "a" LIMIT 100) TO STDOUT`},
		{"next chunk, quotes and backslashes escaped", keyed, []string{`it's`, `a\b`}, []string{"9", "x"},
			`COPY (SELECT "a", "b", "c" FROM "public"."Order" WHERE ("b", "a") > (E'it\'s', E'a\\b') AND ("b", "a") <= (E'9', E'x') ORDER BY "b", "a" LIMIT 100) TO STDOUT`},
		{"table without a key: ctid order", keyless, []string{"(3,7)"}, []string{"(9,1)"},
			`COPY (SELECT "msg", ctid FROM "public"."log" WHERE (ctid) > (E'(3,7)'::tid) AND (ctid) <= (E'(9,1)'::tid) ORDER BY ctid LIMIT 100) TO STDOUT`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, byCtid := chunkQuery(tc.t, tc.after, tc.through, 100)
			if got != tc.want || byCtid != (len(tc.t.Key) == 0) {
				t.Errorf("chunkQuery =\n%s\nwant\n%s", got, tc.want)
			}
		})
	}
}
