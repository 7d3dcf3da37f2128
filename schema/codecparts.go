package schema

import "errors"

// The parts of a table's Codec that transforms reuse to emit records of
// another shape than the Debezium envelope (docs/transforms.md): the
// Value record on its own, and single columns.

// Connector returns source.connector as the codec writes it.
func (c *Codec) Connector() string { return c.connector }

// ValueRecord returns the Avro schema of the table's Value record (the
// envelope's before and after), as a JSON-ready value. The caller may add
// fields to a copy; the Codec's own is never modified.
func (c *Codec) ValueRecord() map[string]any {
	out := make(map[string]any, len(c.valueRecord))
	for k, v := range c.valueRecord {
		out[k] = v
	}
	fields, _ := c.valueRecord["fields"].([]any)
	out["fields"] = append([]any(nil), fields...)
	return out
}

// Column returns the Avro type and the column of the emitted value column
// named name, or ok false when the table has no such emitted column.
func (c *Codec) Column(name string) (ct ColumnType, col *Column, ok bool) {
	for i, ci := range c.cols {
		if c.Table.Columns[ci].Name == name {
			return c.types[i], &c.Table.Columns[ci], true
		}
	}
	return ColumnType{}, nil, false
}

// AppendColumn appends one value of the emitted column name as its Avro
// type (a union with null when the column is nullable), with the same
// checks as the envelope's.
func (c *Codec) AppendColumn(dst []byte, name string, v any) ([]byte, error) {
	for i, ci := range c.cols {
		if c.Table.Columns[ci].Name != name {
			continue
		}
		nullable := c.Table.Columns[ci].Nullable
		switch {
		case v == nil:
			if !nullable {
				return dst, c.valueErr(ci, v, errNullInNotNull)
			}
			return AppendNullableNull(dst), nil
		case nullable:
			dst = AppendNullableSome(dst)
		}
		if v == Unchanged {
			if c.types[i].Unavailable == nil {
				return dst, c.valueErr(ci, v, ErrUnavailable)
			}
			return c.types[i].Unavailable(dst), nil
		}
		out, err := c.types[i].Append(dst, v)
		if err != nil {
			return dst, c.valueErr(ci, v, err)
		}
		return out, nil
	}
	return dst, errors.New("no emitted column " + name)
}

// ColumnField returns the Avro field of column col with type ct, named
// name: a union with null and default null when the column is nullable,
// as the Value record's fields.
func ColumnField(name string, col *Column, ct ColumnType) map[string]any {
	return columnField(name, col, ct, map[string]bool{})
}
