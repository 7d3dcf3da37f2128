package postgres

import (
	"fmt"
	"slices"
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

func TestQuantiles(t *testing.T) {
	sample := func(n int) [][]string {
		var out [][]string
		for i := range n {
			out = append(out, []string{fmt.Sprint(i)})
		}
		return out
	}
	flat := func(ks [][]string) []string {
		var out []string
		for _, k := range ks {
			out = append(out, k[0])
		}
		return out
	}
	for _, c := range []struct {
		sample [][]string
		n      int
		want   []string
	}{
		{sample(100), 4, []string{"25", "50", "75"}},
		{sample(3), 4, []string{"1", "2"}}, // fewer cuts than asked
		{nil, 4, nil},
		{[][]string{{"a"}, {"a"}, {"a"}, {"b"}}, 4, []string{"a", "b"}}, // no repeats
	} {
		if got := flat(quantiles(c.sample, c.n)); !slices.Equal(got, c.want) {
			t.Errorf("quantiles(%v, %d) = %v, want %v", c.sample, c.n, got, c.want)
		}
	}
}
