package postgres

import (
	"bytes"
	"context"
	"fmt"
)

// copyReader parses the text format of COPY ... TO STDOUT, one row per
// line, columns separated by tabs, \N for NULL, backslash escapes for
// the rest. The unescaped value is exactly the value's text output, as
// a SELECT in text format would return it, so the same converters apply.
//
// Values are copied into an arena and handed over as *[]byte into a slab
// of slice headers (see schema.ColumnType.Append): boxing a []byte in an
// interface would allocate once per value.
type copyReader struct {
	ctx   context.Context
	ncols int
	emit  func(vals []any) error
	// reuse makes every row's values use the same buffers: they are
	// valid only until emit returns (and the last row's until the next
	// write).
	reuse bool

	partial []byte // an incomplete line carried over between writes
	rows    int64
	vals    []any
	hdrs    [][]byte
	arena   []byte
}

const arenaBytes = 64 << 10

// copyBatchRows is how many rows' value slices are allocated at once.
const copyBatchRows = 256

// Write takes the bytes of COPY's CopyData messages. Postgres sends one
// row per message, but lines are split wherever they fall.
func (r *copyReader) Write(p []byte) (int, error) {
	n := len(p)
	if len(r.partial) > 0 {
		i := bytes.IndexByte(p, '\n')
		if i < 0 {
			r.partial = append(r.partial, p...)
			return n, nil
		}
		r.partial = append(r.partial, p[:i]...)
		if err := r.line(r.partial); err != nil {
			return 0, err
		}
		r.partial = r.partial[:0]
		p = p[i+1:]
	}
	for len(p) > 0 {
		i := bytes.IndexByte(p, '\n')
		if i < 0 {
			r.partial = append(r.partial, p...)
			break
		}
		if err := r.line(p[:i]); err != nil {
			return 0, err
		}
		p = p[i+1:]
	}
	return n, nil
}

// finish reports a last line without its newline, which COPY never sends.
func (r *copyReader) finish() error {
	if len(r.partial) > 0 {
		return fmt.Errorf("COPY output ended inside a row")
	}
	return nil
}

func (r *copyReader) line(l []byte) error {
	if r.ctx.Err() != nil {
		return r.ctx.Err()
	}
	k := int(r.rows % copyBatchRows)
	if r.reuse {
		k = 0
		if r.vals == nil {
			r.vals = make([]any, r.ncols)
			r.hdrs = make([][]byte, r.ncols)
		}
		clear(r.vals)
		r.arena = r.arena[:0]
	} else if k == 0 {
		r.vals = make([]any, copyBatchRows*r.ncols)
		r.hdrs = make([][]byte, copyBatchRows*r.ncols)
	}
	vals := r.vals[k*r.ncols : (k+1)*r.ncols : (k+1)*r.ncols]
	hdrs := r.hdrs[k*r.ncols : (k+1)*r.ncols : (k+1)*r.ncols]
	if r.ncols == 0 {
		// COPY of zero columns sends empty lines.
		if len(l) != 0 {
			return fmt.Errorf("COPY row has data, want no columns")
		}
	} else {
		// One search of the line for escapes instead of one per field:
		// most rows have none.
		plain := bytes.IndexByte(l, '\\') < 0
		for i := 0; i < r.ncols; i++ {
			f := l
			j := bytes.IndexByte(l, '\t')
			switch {
			case j >= 0 && i == r.ncols-1:
				return fmt.Errorf("COPY row has more than %d columns", r.ncols)
			case j >= 0:
				f, l = l[:j], l[j+1:]
			case i < r.ncols-1:
				return fmt.Errorf("COPY row has %d columns, want %d", i+1, r.ncols)
			}
			if len(f) == 2 && f[0] == '\\' && f[1] == 'N' {
				continue // NULL
			}
			if len(r.arena)+len(f) > cap(r.arena) {
				r.arena = make([]byte, 0, max(arenaBytes, len(f)))
			}
			s := len(r.arena)
			if plain {
				r.arena = append(r.arena, f...)
			} else {
				var err error
				if r.arena, err = appendCopyUnescaped(r.arena, f); err != nil {
					return err
				}
			}
			hdrs[i] = r.arena[s:len(r.arena):len(r.arena)]
			vals[i] = &hdrs[i]
		}
	}
	r.rows++
	return r.emit(vals)
}

// appendCopyUnescaped appends the value of one COPY text field: \b \f \n
// \r \t \v \\, octal \ooo and hex \xhh escapes; any other escaped
// character stands for itself.
func appendCopyUnescaped(dst, f []byte) ([]byte, error) {
	for {
		i := bytes.IndexByte(f, '\\')
		if i < 0 {
			return append(dst, f...), nil
		}
		dst = append(dst, f[:i]...)
		f = f[i+1:]
		if len(f) == 0 {
			return dst, fmt.Errorf("COPY field ends with a lone backslash")
		}
		c := f[0]
		f = f[1:]
		switch c {
		case 'b':
			dst = append(dst, '\b')
		case 'f':
			dst = append(dst, '\f')
		case 'n':
			dst = append(dst, '\n')
		case 'r':
			dst = append(dst, '\r')
		case 't':
			dst = append(dst, '\t')
		case 'v':
			dst = append(dst, '\v')
		case '0', '1', '2', '3', '4', '5', '6', '7':
			v := c - '0'
			for k := 0; k < 2 && len(f) > 0 && f[0] >= '0' && f[0] <= '7'; k++ {
				v = v<<3 | (f[0] - '0')
				f = f[1:]
			}
			dst = append(dst, v)
		case 'x':
			v, n := byte(0), 0
			for ; n < 2 && len(f) > 0 && hexVal(f[0]) >= 0; n++ {
				v = v<<4 | byte(hexVal(f[0]))
				f = f[1:]
			}
			if n == 0 {
				dst = append(dst, 'x') // "\x" not followed by a hex digit is x
			} else {
				dst = append(dst, v)
			}
		default:
			dst = append(dst, c)
		}
	}
}

func hexVal(c byte) int {
	switch {
	case c >= '0' && c <= '9':
		return int(c - '0')
	case c >= 'a' && c <= 'f':
		return int(c-'a') + 10
	case c >= 'A' && c <= 'F':
		return int(c-'A') + 10
	}
	return -1
}
