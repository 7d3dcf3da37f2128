package capture

import (
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/sluicecdc/sluice/schema"
)

func ids(names ...string) []schema.TableID {
	var out []schema.TableID
	for _, n := range names {
		i := strings.Index(n, ".")
		out = append(out, schema.TableID{Namespace: n[:i], Name: n[i+1:]})
	}
	return out
}

func TestFilterVerify(t *testing.T) {
	all := ids("public.orders", "public.Customers", "public.order_items", "app.users")
	tests := []struct {
		name     string
		include  []string
		wantErr  []string // substrings of the error; nil: no error
		warnings int
	}{
		{"all literal names exist", []string{"public.orders", "app.users"}, nil, 0},
		{"empty include list", nil, nil, 0},
		{"glob that matches", []string{"public.*"}, nil, 0},
		{"glob that matches nothing warns", []string{"sales.*"}, nil, 1},
		{"typo names the closest table", []string{"public.ordres"}, []string{`"public.ordres" matches no table`, "public.orders"}, 0},
		{"case mismatch", []string{"public.customers"}, []string{`"public.customers"`, "public.Customers"}, 0},
		{"unrelated name offers nothing", []string{"billing.invoices"}, []string{`"billing.invoices" matches no table`, "case-sensitive"}, 0},
		{"several missing", []string{"public.ordres", "x.y", "app.*"}, []string{`"public.ordres"`, `"x.y"`}, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := &Filter{Include: tc.include}
			warns, err := f.Verify(all)
			if len(warns) != tc.warnings {
				t.Errorf("warnings %q, want %d", warns, tc.warnings)
			}
			if tc.wantErr == nil {
				if err != nil {
					t.Fatalf("unexpected error %v", err)
				}
				return
			}
			var se *SetupError
			if !errors.As(err, &se) || se.Transient || se.What != "source.tables" {
				t.Fatalf("error %v, want a non-transient *SetupError for source.tables", err)
			}
			for _, w := range tc.wantErr {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not name %q", err, w)
				}
			}
		})
	}
}

func TestFilterMatch(t *testing.T) {
	f := &Filter{Include: []string{"public.*"}, Exclude: []string{"public.audit_*"}}
	got := map[string]bool{}
	for _, id := range ids("public.orders", "public.audit_log", "app.users") {
		got[id.String()] = f.Match(id)
	}
	want := map[string]bool{"public.orders": true, "public.audit_log": false, "app.users": false}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Match: %v, want %v", got, want)
	}
}

func TestClosest(t *testing.T) {
	all := ids("public.orders", "public.orders_archive", "public.order", "app.users")
	if got := Closest("public.ordrs", all, 2); !reflect.DeepEqual(got, []string{"public.orders", "public.order"}) {
		t.Errorf("Closest = %q", got)
	}
}
