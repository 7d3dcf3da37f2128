package mysql

import (
	"fmt"
	"strconv"

	"github.com/sluicecdc/sluice/schema"
)

// The snapshot reads rows with a text-protocol SELECT and must hand over
// exactly what the binlog decoder produces for the same value (see
// schema.MySQLColumnType), so that both encode to the same bytes. SelectExpr
// picks an expression whose text carries the value losslessly; FromText
// turns that text into the binlog's Go representation.

// SelectExpr returns the SELECT expression that reads column c.
func SelectExpr(c *schema.Column) string {
	q := quoteIdent(c.Name)
	switch c.Type {
	case "float":
		// FLOAT prints with 6 significant digits; as a DOUBLE it prints
		// every digit of its exact value. Multiplying by the DOUBLE 1e0
		// makes it one, exactly (-0 stays -0), on every server: CAST(...
		// AS DOUBLE) is MySQL 8.0.17+.
		return "(" + q + " * 1e0)"
	case "enum", "set":
		// The index (enum) or bit mask (set), as the binlog has it.
		return "(" + q + "+0)"
	}
	return q
}

// FromText converts the text of SelectExpr(c) into the binlog
// representation of the value. The bytes of text are copied where they
// are kept.
func FromText(c *schema.Column, text []byte) (any, error) { return fromText(c, text, true) }

// fromText is FromText; with keep false, a string or binary value is text
// itself rather than a copy (valid as long as text is). The numbers are
// parsed from text without a string of their own (strconv does not
// retain its argument).
func fromText(c *schema.Column, text []byte, keep bool) (any, error) {
	bad := func(err error) error {
		return fmt.Errorf("mysql: column %s (%s): %q: %w", c.Name, c.Type, schema.Printable(text), err)
	}
	switch c.Type {
	case "tinyint", "smallint", "mediumint", "int", "integer", "bigint":
		var v int64
		if c.Unsigned {
			u, err := strconv.ParseUint(string(text), 10, 64)
			if err != nil {
				return nil, bad(err)
			}
			v = int64(u) // the bits, as the binlog has them
		} else {
			n, err := strconv.ParseInt(string(text), 10, 64)
			if err != nil {
				return nil, bad(err)
			}
			v = n
		}
		switch c.Type {
		case "tinyint":
			return int8(v), nil
		case "smallint":
			return int16(v), nil
		case "mediumint":
			// Sign-extended from 24 bits, as go-mysql reads MEDIUMINT.
			return int32(v << 40 >> 40), nil
		case "int", "integer":
			return int32(v), nil
		}
		return v, nil
	case "float":
		f, err := strconv.ParseFloat(string(text), 64)
		if err != nil {
			return nil, bad(err)
		}
		return float32(f), nil
	case "double", "real":
		f, err := strconv.ParseFloat(string(text), 64)
		if err != nil {
			return nil, bad(err)
		}
		return f, nil
	case "bit":
		if len(text) > 8 {
			return nil, bad(fmt.Errorf("%d bytes for a bit column", len(text)))
		}
		var v int64
		for _, b := range text {
			v = v<<8 | int64(b)
		}
		return v, nil
	case "year":
		n, err := strconv.Atoi(string(text))
		if err != nil {
			return nil, bad(err)
		}
		return n, nil
	case "enum", "set":
		u, err := strconv.ParseUint(string(text), 10, 64)
		if err != nil {
			return nil, bad(err)
		}
		return int64(u), nil
	case "decimal", "numeric", "date", "datetime", "timestamp", "time":
		return string(text), nil
	}
	// Strings, binary strings, JSON and geometry: the bytes.
	if !keep {
		return text, nil
	}
	return append(make([]byte, 0, len(text)), text...), nil
}
