package config_test

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/sluicecdc/sluice/internal/config"
)

func TestTransformsValid(t *testing.T) {
	c, err := load(t, minimal+`  tables: [public.orders, public.customers, public.outbox]
transforms:
  - type: outbox
    table: public.outbox
  - type: outbox
    prefix: sluice.outbox
  - type: unwrap
    tables: [public.orders]
    add_fields: [op, table, source.ts_ms, lsn:position]
  - type: mask
    columns: [public.customers.email]
    with: sha256
    salt: pepper
  - type: mask
    columns: [public.customers.ssn]
    with: null
`, nil)
	if err != nil {
		t.Fatal(err)
	}
	o := c.Transforms[0]
	if o.IDColumn != "id" || o.KeyColumn != "aggregateid" || o.PayloadColumn != "payload" || o.RouteByColumn != "aggregatetype" ||
		o.Topic != "outbox.event.${routedByValue}" || o.OnUpdate != "warn" {
		t.Errorf("outbox defaults: %+v", o)
	}
	if c.Transforms[2].DeleteHandling != "drop" || c.Transforms[2].DropTombstones {
		t.Errorf("unwrap defaults: %v", c.Transforms[2])
	}
	if c.Transforms[4].With != config.MaskNull {
		t.Errorf("with: null (unquoted) = %q, want %q", c.Transforms[4].With, config.MaskNull)
	}
	if strings.Contains(c.Redacted(), "pepper") || strings.Contains(fmt.Sprintf("%v %#v", c.Transforms, c.Transforms), "pepper") {
		t.Errorf("the salt is printed")
	}
}

// TestTransformsInvalid: each mistake is an *Error naming the entry's key.
func TestTransformsInvalid(t *testing.T) {
	tests := []struct {
		name, yaml, key string
	}{
		{"unknown type", "  - {type: flatten}\n", "transforms[0].type"},
		{"missing type", "  - {tables: [public.orders]}\n", "transforms[0].type"},
		{"unknown key", "  - {type: unwrap, tables: [public.orders], add_field: [op]}\n", "transforms[0]"},
		{"key of another type", "  - {type: unwrap, tables: [public.orders], with: sha256}\n", "transforms[0].with"},
		{"outbox without table", "  - {type: outbox}\n", "transforms[0].table"},
		{"outbox table not captured", "  - {type: outbox, table: public.other}\n", "transforms[0].table"},
		{"outbox table glob", "  - {type: outbox, table: public.*}\n", "transforms[0].table"},
		{"outbox table and prefix", "  - {type: outbox, table: public.outbox, prefix: sluice.outbox}\n", "transforms[0].prefix"},
		{"outbox prefix of Sluice", "  - {type: outbox, prefix: sluice.signal}\n", "transforms[0].prefix"},
		{"bad placement", "  - {type: outbox, table: public.outbox, additional_placement: ['type:body']}\n", "transforms[0].additional_placement"},
		{"bad on_update", "  - {type: outbox, table: public.outbox, on_update: ignore}\n", "transforms[0].on_update"},
		{"outbox twice", "  - {type: outbox, table: public.outbox}\n  - {type: outbox, table: public.outbox}\n", "transforms[1].table"},
		{"unwrap without tables", "  - {type: unwrap}\n", "transforms[0].tables"},
		{"unwrap table not captured", "  - {type: unwrap, tables: [public.other]}\n", "transforms[0].tables"},
		{"unwrap outbox table", "  - {type: outbox, table: public.outbox}\n  - {type: unwrap, tables: [public.*]}\n", "transforms[1].tables"},
		{"bad add field", "  - {type: unwrap, tables: [public.orders], add_fields: [source.nope]}\n", "transforms[0].add_fields"},
		{"bad delete handling", "  - {type: unwrap, tables: [public.orders], delete_handling: keep}\n", "transforms[0].delete_handling"},
		{"mask without columns", "  - {type: mask, with: '***'}\n", "transforms[0].columns"},
		{"mask column not a column name", "  - {type: mask, columns: [public.orders], with: '***'}\n", "transforms[0].columns"},
		{"mask column excluded", "  - {type: mask, columns: [public.orders.secret], with: '***'}\n", "transforms[0].columns"},
		{"mask without with", "  - {type: mask, columns: [public.orders.note]}\n", "transforms[0].with"},
		{"sha256 without salt", "  - {type: mask, columns: [public.orders.note], with: sha256}\n", "transforms[0].salt"},
		{"salt without sha256", "  - {type: mask, columns: [public.orders.note], with: '***', salt: s}\n", "transforms[0].salt"},
		{"column masked twice", "  - {type: mask, columns: [public.orders.note], with: '***'}\n  - {type: mask, columns: [public.orders.note], with: 'x'}\n", "transforms[1].columns"},
	}
	base := minimal + "  tables: [public.orders, public.outbox]\n  exclude_columns: [public.orders.secret]\ntransforms:\n"
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := load(t, base+tt.yaml, nil)
			var keys []string
			for _, e := range errorsOf(err) {
				keys = append(keys, e.Key)
			}
			if !slices.Contains(keys, tt.key) {
				t.Fatalf("errors %v (keys %v), want one of key %s", err, keys, tt.key)
			}
		})
	}
}

func TestTransformsPrefixNeedsPostgres(t *testing.T) {
	_, err := load(t, minimalMySQL+"transforms:\n  - {type: outbox, prefix: sluice.outbox}\n", nil)
	for _, e := range errorsOf(err) {
		if e.Key == "transforms[0].prefix" {
			return
		}
	}
	t.Fatalf("err = %v, want transforms[0].prefix", err)
}
