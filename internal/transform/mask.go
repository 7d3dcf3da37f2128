package transform

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"

	"github.com/sluicecdc/sluice/internal/config"
	"github.com/sluicecdc/sluice/schema"
)

// maskSpec is one masked column of the configuration.
type maskSpec struct {
	entry  int    // index in the transforms list, for errors
	column string // column name
	full   string // "ns.table.column"
	with   string // config.MaskSHA256, config.MaskNull or the replacement
	salt   []byte
}

func newMask(entry int, t *config.Transform, column, full string) *maskSpec {
	return &maskSpec{entry: entry, column: column, full: full, with: t.With, salt: []byte(t.Salt)}
}

// boundMask is a maskSpec bound to a column of one table version.
type boundMask struct {
	*maskSpec
	index  int // into Table.Columns
	length int // the column's declared length when the hash is cut to it
}

// maskedType is the type of every masked column: a string, marked as
// Debezium's column masks mark theirs (the "masked" schema parameter).
// An unchanged TOASTed value keeps Debezium's placeholder.
var maskedType = schema.ColumnType{
	Avro: map[string]any{"type": "string", "connect.parameters": map[string]any{"masked": "true"}},
	Append: func(dst []byte, raw any) ([]byte, error) {
		s, ok := raw.(string)
		if !ok {
			return dst, fmt.Errorf("masked value is %T, want string", raw)
		}
		return schema.AppendString(dst, s), nil
	},
	Unavailable: func(dst []byte) []byte { return schema.AppendString(dst, schema.UnavailableValue) },
}

// bindMasks binds the table's masked columns and makes p.Table a copy in
// which null-masked columns are nullable.
func (p *Plan) bindMasks(t *schema.Table, ms []*maskSpec) error {
	isKey := map[int]bool{}
	for _, k := range t.Key {
		isKey[k] = true
	}
	p.Override = map[string]schema.ColumnType{}
	var copied bool
	for _, m := range ms {
		i := t.Column(m.column)
		if i < 0 {
			return &config.Error{Key: config.TransformKey(m.entry, "columns"), Value: m.full,
				Msg: fmt.Sprintf("names no column of %s (its columns are case-sensitive); fix the name or remove it", t.ID)}
		}
		if isKey[i] {
			return &config.Error{Key: config.TransformKey(m.entry, "columns"), Value: m.full,
				Msg: "is part of the table's key, which keys its topic and partitions its events, and cannot be masked; remove it from the list " +
					"(to keep the key out of Kafka, give the table a surrogate key)"}
		}
		col := &t.Columns[i]
		b := boundMask{maskSpec: m, index: i}
		b.length = declaredLength(col) // as Debezium cuts the hash to the column
		if m.with == config.MaskNull && !col.Nullable {
			if !copied {
				c := *t
				c.Columns = append([]schema.Column(nil), t.Columns...)
				p.Table, copied = &c, true
			}
			p.Table.Columns[i].Nullable = true
		}
		p.masks = append(p.masks, b)
		p.Override[m.column] = maskedType
	}
	return nil
}

// declaredLength is the declared length of a character column with one
// (varchar(n), char(n)), which Debezium cuts a hash to, or 0.
func declaredLength(c *schema.Column) int {
	switch c.Type {
	case "varchar", "bpchar", "char":
		if c.OID != 0 { // Postgres: atttypmod is the length + 4
			return max(int(c.TypeMod)-4, 0)
		}
		if c.Charset != "binary" {
			return c.Length
		}
	}
	return 0
}

// maskRow returns a copy of row with the masked columns replaced, or row
// itself when it is absent.
func (p *Plan) maskRow(row []any) []any {
	if row == nil || len(p.masks) == 0 {
		return row
	}
	out := append([]any(nil), row...)
	for _, m := range p.masks {
		out[m.index] = m.apply(row[m.index])
	}
	return out
}

// apply masks one value. NULL stays NULL (it holds nothing to hide); an
// unchanged TOASTed value, which the source did not send, cannot be
// hashed and keeps the placeholder, but takes a fixed replacement.
func (m *boundMask) apply(v any) any {
	switch {
	case m.with == config.MaskNull || v == nil:
		return nil
	case m.with == config.MaskSHA256:
		if v == schema.Unchanged {
			return v
		}
		return m.hash(valueText(v))
	default:
		return m.with
	}
}

// hash is Debezium's column.mask.hash.v2.SHA-256.with.salt: the
// lower-case hex SHA-256 of the salt followed by the value's text, cut to
// the column's declared length.
func (m *boundMask) hash(text []byte) string {
	h := sha256.New()
	h.Write(m.salt)
	h.Write(text)
	s := hex.EncodeToString(h.Sum(nil))
	if m.length > 0 && m.length < len(s) {
		s = s[:m.length]
	}
	return s
}

// valueText is the text a value is hashed from: the Postgres text format
// as the source sends it, a MySQL string's bytes, and the decimal or
// default text of other decoded values.
func valueText(v any) []byte {
	switch v := v.(type) {
	case []byte:
		return v
	case *[]byte:
		return *v
	case string:
		return []byte(v)
	}
	return fmt.Append(nil, v)
}
