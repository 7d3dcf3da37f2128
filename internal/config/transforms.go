package config

import (
	"fmt"
	"path"
	"reflect"
	"slices"
	"strconv"
	"strings"
)

// Transform types (Transform.Type).
const (
	TransformOutbox = "outbox"
	TransformUnwrap = "unwrap"
	TransformMask   = "mask"
)

// Delete handling of the unwrap transform (Transform.DeleteHandling), as
// Debezium's delete.handling.mode.
const (
	DeleteDrop    = "drop"
	DeleteRewrite = "rewrite"
	DeleteNone    = "none"
)

// Mask methods (Transform.With) that are not a replacement string.
const (
	MaskSHA256 = "sha256"
	MaskNull   = "null"
)

// DefaultOutboxTopic is the outbox transform's default topic pattern, as
// Debezium's route.topic.replacement.
const DefaultOutboxTopic = "outbox.event.${routedByValue}"

// Transform is one entry of the transforms list. Which keys apply depends
// on Type; a key of another type is an error. docs/transforms.md describes
// each type and the Debezium option every key corresponds to.
type Transform struct {
	// Type is outbox, unwrap or mask. Required.
	Type string `mapstructure:"type"`

	// Table is the outbox table, "<schema>.<table>" (outbox only; this
	// or prefix is required).
	Table string `mapstructure:"table"`
	// Prefix routes, instead of a table's rows, the transactional logical
	// decoding messages with this prefix (outbox only; Postgres only),
	// e.g. sluice.outbox.
	Prefix string `mapstructure:"prefix"`
	// IDColumn holds the event id, sent as header "id" (outbox; default
	// id; Debezium table.field.event.id).
	IDColumn string `mapstructure:"id_column"`
	// KeyColumn is the record key (outbox; default aggregateid; Debezium
	// table.field.event.key).
	KeyColumn string `mapstructure:"key_column"`
	// TypeColumn holds the event type, sent as header "type" (outbox;
	// default type).
	TypeColumn string `mapstructure:"type_column"`
	// PayloadColumn is the record value (outbox; default payload;
	// Debezium table.field.event.payload).
	PayloadColumn string `mapstructure:"payload_column"`
	// RouteByColumn names the topic through ${routedByValue} (outbox;
	// default aggregatetype; Debezium route.by.field).
	RouteByColumn string `mapstructure:"route_by_column"`
	// Topic is the topic pattern (outbox; default
	// outbox.event.${routedByValue}; Debezium route.topic.replacement).
	Topic string `mapstructure:"topic"`
	// AdditionalPlacement lists "column:header[:alias]" or
	// "column:envelope[:alias]" (outbox; Debezium
	// table.fields.additional.placement).
	AdditionalPlacement []string `mapstructure:"additional_placement"`
	// OnUpdate is what an update of an outbox row does: warn (skip it,
	// logged) or fatal (stop). Default warn (Debezium
	// debezium.op.invalid.behavior).
	OnUpdate string `mapstructure:"on_update"`

	// Tables are the tables whose topics carry the new row state (unwrap
	// only; required; globs allowed).
	Tables []string `mapstructure:"tables"`
	// AddFields lists envelope fields added to the value as __<field>:
	// op, ts_ms, or a source field such as table or source.ts_ms (unwrap;
	// Debezium add.fields). An entry field:alias names the field
	// __alias.
	AddFields []string `mapstructure:"add_fields"`
	// DeleteHandling is drop, rewrite or none (unwrap; default drop;
	// Debezium delete.handling.mode).
	DeleteHandling string `mapstructure:"delete_handling"`
	// DropTombstones drops the tombstone after a delete (unwrap; default
	// false; Debezium drop.tombstones).
	DropTombstones bool `mapstructure:"drop_tombstones"`

	// Columns are the masked "<schema>.<table>.<column>" columns (mask
	// only; required).
	Columns []string `mapstructure:"columns"`
	// With is sha256 (salted hash, hex), null, or the fixed replacement
	// string (mask; required).
	With string `mapstructure:"with"`
	// Salt is prepended to every value hashed with sha256 (mask; required
	// with sha256). Secret: never printed.
	Salt string `mapstructure:"salt"`
}

// String renders the entry as a YAML flow mapping of the keys that are
// set, with the salt masked, for Redacted.
func (t Transform) String() string {
	var parts []string
	add := func(key, v string) {
		if v != "" {
			parts = append(parts, key+": "+strconv.Quote(v))
		}
	}
	list := func(key string, v []string) {
		if len(v) > 0 {
			q := make([]string, len(v))
			for i, s := range v {
				q[i] = strconv.Quote(s)
			}
			parts = append(parts, key+": ["+strings.Join(q, ", ")+"]")
		}
	}
	add("type", t.Type)
	add("table", t.Table)
	add("prefix", t.Prefix)
	add("id_column", t.IDColumn)
	add("key_column", t.KeyColumn)
	add("type_column", t.TypeColumn)
	add("payload_column", t.PayloadColumn)
	add("route_by_column", t.RouteByColumn)
	add("topic", t.Topic)
	list("additional_placement", t.AdditionalPlacement)
	add("on_update", t.OnUpdate)
	list("tables", t.Tables)
	list("add_fields", t.AddFields)
	add("delete_handling", t.DeleteHandling)
	if t.DropTombstones {
		parts = append(parts, "drop_tombstones: true")
	}
	list("columns", t.Columns)
	add("with", t.With)
	if t.Salt != "" {
		parts = append(parts, `salt: "***"`)
	}
	return "{" + strings.Join(parts, ", ") + "}"
}

// GoString is String, so that %#v never shows the salt.
func (t Transform) GoString() string { return t.String() }

// TransformKey is the configuration key of entry i's field, e.g.
// "transforms[1].columns".
func TransformKey(i int, field string) string {
	k := "transforms[" + strconv.Itoa(i) + "]"
	if field != "" {
		k += "." + field
	}
	return k
}

var transformType = reflect.TypeFor[Transform]()

// nullWith turns an entry's `with: null` (YAML null, which would decode
// as an empty string) into "null", so that the unquoted form works too.
func nullWith(data any) any {
	m, ok := data.(map[string]any)
	if !ok {
		return data
	}
	if v, set := m["with"]; set && v == nil {
		out := make(map[string]any, len(m))
		for k, v := range m {
			out[k] = v
		}
		out["with"] = MaskNull
		return out
	}
	return data
}

// transformDecodeError reports a transforms entry that does not decode:
// an unknown key, or a value of the wrong kind.
func transformDecodeError(key string, cause error) *Error {
	msg := cause.Error()
	if _, keys, ok := strings.Cut(msg, "has invalid keys: "); ok {
		return &Error{Key: key, Msg: "has unknown keys " + keys + "; docs/transforms.md lists the keys of each transform type"}
	}
	// The cause quotes the value, which may be the salt: leave it out.
	return &Error{Key: key, Msg: "has a value of the wrong kind (a string, a list of strings, or true/false); docs/transforms.md lists the keys of each transform type"}
}

// normalizeTransforms fills the defaults of each entry.
func (c *Config) normalizeTransforms() {
	if len(c.Transforms) == 0 {
		c.Transforms = nil // "transforms: []" is no transforms, as the default
	}
	for i := range c.Transforms {
		t := &c.Transforms[i]
		t.Type = strings.ToLower(strings.TrimSpace(t.Type))
		switch t.Type {
		case TransformOutbox:
			def := func(p *string, v string) {
				if *p == "" {
					*p = v
				}
			}
			def(&t.IDColumn, "id")
			def(&t.KeyColumn, "aggregateid")
			def(&t.TypeColumn, "type")
			def(&t.PayloadColumn, "payload")
			def(&t.RouteByColumn, "aggregatetype")
			def(&t.Topic, DefaultOutboxTopic)
			def(&t.OnUpdate, "warn")
		case TransformUnwrap:
			if t.DeleteHandling == "" {
				t.DeleteHandling = DeleteDrop
			}
		}
	}
}

// validateTransforms checks the transforms list against itself and the
// captured tables. What needs the tables' columns (a missing outbox
// column, a masked key column) is checked when the table's schema is
// known, and reported as an *Error of the same key.
func (c *Config) validateTransforms(p *problems) {
	unwrapped := map[string]int{} // table -> entry
	outbox := map[string]int{}
	masked := map[string]int{}
	for i := range c.Transforms {
		t := &c.Transforms[i]
		key := func(f string) string { return TransformKey(i, f) }
		switch t.Type {
		case TransformOutbox, TransformUnwrap, TransformMask:
		case "":
			p.add(key("type"), "", "is required; use outbox, unwrap or mask")
			continue
		default:
			p.add(key("type"), t.Type, "is not a transform type; use outbox, unwrap or mask")
			continue
		}
		for _, f := range t.foreignKeys() {
			p.add(key(f), "", fmt.Sprintf("is not a key of %s %s transform; remove it (docs/transforms.md lists the keys of each type)", article(t.Type), t.Type))
		}
		switch t.Type {
		case TransformOutbox:
			switch {
			case t.Prefix != "":
				if t.Table != "" {
					p.add(key("prefix"), t.Prefix, "is set together with table; route either a table's rows or the messages with a prefix")
				}
				if c.Source.Type != SourcePostgres {
					p.add(key("prefix"), t.Prefix, "needs source.type postgres (pg_logical_emit_message); route an outbox table instead")
				}
				if t.Prefix == "sluice.watermark" || t.Prefix == "sluice.signal" {
					p.add(key("prefix"), t.Prefix, "is a prefix Sluice uses itself; use e.g. sluice.outbox")
				}
				if j, dup := outbox["prefix "+t.Prefix]; dup {
					p.add(key("prefix"), t.Prefix, fmt.Sprintf("is routed by %s already; route each prefix once", TransformKey(j, "")))
				}
				outbox["prefix "+t.Prefix] = i
			case t.Table == "":
				p.add(key("table"), "", "is required: the outbox table, e.g. public.outbox (or prefix, for pg_logical_emit_message messages)")
			case !validPattern(t.Table, 2) || strings.ContainsAny(t.Table, "*?["):
				p.add(key("table"), t.Table, "is not a <schema>.<table> name (exactly one '.', no globs)")
			case !c.captures(t.Table):
				p.add(key("table"), t.Table, "is not a captured table; add it to source.tables (and keep it out of source.exclude_tables)")
			default:
				if j, dup := outbox[t.Table]; dup {
					p.add(key("table"), t.Table, fmt.Sprintf("is routed by %s already; route each outbox table once", TransformKey(j, "")))
				}
				outbox[t.Table] = i
			}
			for _, a := range t.AdditionalPlacement {
				if _, _, _, err := ParsePlacement(a); err != nil {
					p.add(key("additional_placement"), a, err.Error())
				}
			}
			p.oneOf(key("on_update"), t.OnUpdate, "warn", "fatal")
		case TransformUnwrap:
			if len(t.Tables) == 0 {
				p.add(key("tables"), "", "is required: the tables whose topics carry the new row state, e.g. [public.orders]")
			}
			for _, tb := range t.Tables {
				switch {
				case !validPattern(tb, 2):
					p.add(key("tables"), tb, "is not a <schema>.<table> pattern: exactly one '.', globs allowed")
				case !strings.ContainsAny(tb, "*?[") && !c.captures(tb):
					p.add(key("tables"), tb, "is not a captured table; add it to source.tables (and keep it out of source.exclude_tables)")
				default:
					if j, dup := unwrapped[tb]; dup {
						p.add(key("tables"), tb, fmt.Sprintf("is unwrapped by %s already", TransformKey(j, "")))
					}
					unwrapped[tb] = i
				}
			}
			for _, f := range t.AddFields {
				if _, _, err := ParseAddField(f); err != nil {
					p.add(key("add_fields"), f, err.Error())
				}
			}
			p.oneOf(key("delete_handling"), t.DeleteHandling, DeleteDrop, DeleteRewrite, DeleteNone)
		case TransformMask:
			if len(t.Columns) == 0 {
				p.add(key("columns"), "", "is required: the masked columns, e.g. [public.customers.email]")
			}
			for _, col := range t.Columns {
				switch {
				case !validPattern(col, 3) || strings.ContainsAny(col, "*?["):
					p.add(key("columns"), col, "is not a <schema>.<table>.<column> name (exactly two '.', no globs)")
				case !c.captures(col[:strings.LastIndexByte(col, '.')]):
					p.add(key("columns"), col, "is not a column of a captured table; add the table to source.tables (and keep it out of source.exclude_tables)")
				case slices.Contains(c.Source.ExcludeColumns, col):
					p.add(key("columns"), col, "is in source.exclude_columns and never emitted; remove it from one of the two lists")
				default:
					if j, dup := masked[col]; dup {
						p.add(key("columns"), col, fmt.Sprintf("is masked by %s already; mask each column once", TransformKey(j, "")))
					}
					masked[col] = i
				}
			}
			switch t.With {
			case "":
				p.add(key("with"), "", `is required: sha256 (salted hash), "null" (quoted), or the replacement string, e.g. "***"`)
			case MaskSHA256:
				if t.Salt == "" {
					p.add(key("salt"), "", "is required with sha256: a secret string hashed before every value, so that hashes of short values cannot be looked up")
				}
			default:
				if t.Salt != "" {
					p.add(key("salt"), "", "is used only with sha256; remove it")
				}
			}
		}
	}
	// A table is either unwrapped or routed as an outbox: the two give
	// its topics different shapes.
	for tb, i := range outbox {
		for pat, j := range unwrapped {
			if ok, _ := path.Match(pat, tb); ok {
				p.add(TransformKey(j, "tables"), pat, fmt.Sprintf("includes the outbox table %s of %s; an outbox table is not unwrapped, remove it", tb, TransformKey(i, "")))
			}
		}
	}
}

func article(typ string) string {
	if typ == TransformMask {
		return "a"
	}
	return "an"
}

// foreignKeys returns the keys set on t that belong to another type.
func (t *Transform) foreignKeys() []string {
	outbox := t.Table != "" || t.Prefix != "" || t.IDColumn != "" || t.KeyColumn != "" || t.TypeColumn != "" || t.PayloadColumn != "" ||
		t.RouteByColumn != "" || t.Topic != "" || len(t.AdditionalPlacement) > 0 || t.OnUpdate != ""
	var out []string
	if t.Type != TransformOutbox && outbox {
		for f, set := range map[string]bool{
			"table": t.Table != "", "prefix": t.Prefix != "", "id_column": t.IDColumn != "", "key_column": t.KeyColumn != "", "type_column": t.TypeColumn != "",
			"payload_column": t.PayloadColumn != "", "route_by_column": t.RouteByColumn != "", "topic": t.Topic != "",
			"additional_placement": len(t.AdditionalPlacement) > 0, "on_update": t.OnUpdate != "",
		} {
			if set {
				out = append(out, f)
			}
		}
	}
	if t.Type != TransformUnwrap {
		for f, set := range map[string]bool{
			"tables": len(t.Tables) > 0, "add_fields": len(t.AddFields) > 0, "delete_handling": t.DeleteHandling != "", "drop_tombstones": t.DropTombstones,
		} {
			if set {
				out = append(out, f)
			}
		}
	}
	if t.Type != TransformMask {
		for f, set := range map[string]bool{"columns": len(t.Columns) > 0, "with": t.With != "", "salt": t.Salt != ""} {
			if set {
				out = append(out, f)
			}
		}
	}
	slices.Sort(out)
	return out
}

// captures reports whether the source captures the table "ns.name" by its
// include and exclude patterns.
func (c *Config) captures(table string) bool {
	match := func(pats []string) bool {
		for _, p := range pats {
			if ok, _ := path.Match(p, table); ok {
				return true
			}
		}
		return false
	}
	if len(c.Source.Tables) > 0 && !match(c.Source.Tables) {
		return false
	}
	return !match(c.Source.ExcludeTables)
}

// ParsePlacement parses an outbox additional_placement entry,
// "column:header[:alias]" or "column:envelope[:alias]".
func ParsePlacement(s string) (column string, envelope bool, alias string, err error) {
	parts := strings.Split(s, ":")
	if len(parts) < 2 || len(parts) > 3 || parts[0] == "" {
		return "", false, "", fmt.Errorf("is not column:header[:alias] or column:envelope[:alias]")
	}
	column, alias = parts[0], parts[0]
	if len(parts) == 3 {
		if parts[2] == "" {
			return "", false, "", fmt.Errorf("has an empty alias; write column:%s or give the alias", parts[1])
		}
		alias = parts[2]
	}
	switch parts[1] {
	case "header":
	case "envelope":
		envelope = true
		if alias == "payload" {
			return "", false, "", fmt.Errorf("would replace the payload field of the envelope; give another alias")
		}
	default:
		return "", false, "", fmt.Errorf("has placement %q; use header or envelope", parts[1])
	}
	return column, envelope, alias, nil
}

// AddFieldNames are the fields unwrap's add_fields accepts: envelope
// fields (op, ts_ms) and source block fields (with or without "source.").
var AddFieldNames = []string{"op", "ts_ms", "version", "connector", "name", "source.ts_ms", "source.ts_us", "source.ts_ns", "snapshot", "db", "schema", "table",
	"txId", "lsn", "server_id", "gtid", "file", "pos", "row", "thread"}

// ParseAddField parses an unwrap add_fields entry, "field" or
// "field:alias", and returns the field (op, ts_ms, or source.<name>) and
// the name of the value's field (__<field>, with "source." written
// "source_", or __<alias>), as Debezium's add.fields.
func ParseAddField(s string) (field, name string, err error) {
	f, alias, hasAlias := strings.Cut(s, ":")
	if hasAlias && alias == "" {
		return "", "", fmt.Errorf("has an empty alias; write field or field:alias")
	}
	bare, qualified := strings.CutPrefix(f, "source.")
	switch {
	case f == "op" || f == "ts_ms":
		field, name = f, "__"+f
	case slices.Contains(AddFieldNames, "source."+bare) || slices.Contains(AddFieldNames, bare) && bare != "op" && bare != "ts_ms":
		field = "source." + bare
		name = "__" + bare
		if qualified {
			name = "__source_" + bare
		}
	default:
		return "", "", fmt.Errorf("is not a field of the envelope or its source block; use op, ts_ms or one of source.%s", strings.Join(sourceFieldNames(), ", source."))
	}
	if hasAlias {
		name = "__" + alias
	}
	return field, name, nil
}

func sourceFieldNames() []string {
	var out []string
	for _, f := range AddFieldNames {
		if f == "op" || f == "ts_ms" {
			continue
		}
		out = append(out, strings.TrimPrefix(f, "source."))
	}
	return out
}
