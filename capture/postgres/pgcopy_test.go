package postgres

import (
	"bytes"
	"context"
	"strings"
	"testing"
)

// copyEscape is the escaping Postgres's COPY TO applies to a text value.
func copyEscape(v []byte) string {
	var b strings.Builder
	for _, c := range v {
		switch c {
		case '\\':
			b.WriteString(`\\`)
		case '\b':
			b.WriteString(`\b`)
		case '\f':
			b.WriteString(`\f`)
		case '\n':
			b.WriteString(`\n`)
		case '\r':
			b.WriteString(`\r`)
		case '\t':
			b.WriteString(`\t`)
		case '\v':
			b.WriteString(`\v`)
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}

func parseCopy(t testing.TB, ncols int, chunks ...string) ([][]any, error) {
	var got [][]any
	r := &copyReader{ctx: context.Background(), ncols: ncols, emit: func(vals []any) error {
		got = append(got, vals)
		return nil
	}}
	for _, c := range chunks {
		if _, err := r.Write([]byte(c)); err != nil {
			return got, err
		}
	}
	return got, r.finish()
}

func copiedText(v any) (string, bool) {
	if v == nil {
		return "", false
	}
	return string(*v.(*[]byte)), true
}

func TestCopyReader(t *testing.T) {
	values := []string{"plain", "", "tab\there", "line\nbreak", `back\slash`, "cr\rff\fbs\bvt\v", `\N`, "émoji 🎉", "{\"a\":\"b\\\"c\"}"}
	var line strings.Builder
	for i, v := range values {
		if i > 0 {
			line.WriteByte('\t')
		}
		line.WriteString(copyEscape([]byte(v)))
	}
	line.WriteString("\t\\N\n")
	whole := line.String()
	// One row per write, then the same bytes cut at every offset.
	for cut := 0; cut <= len(whole); cut++ {
		rows, err := parseCopy(t, len(values)+1, whole[:cut], whole[cut:], whole)
		if err != nil {
			t.Fatalf("cut %d: %v", cut, err)
		}
		if len(rows) != 2 {
			t.Fatalf("cut %d: %d rows", cut, len(rows))
		}
		for _, row := range rows {
			for i, want := range values {
				if got, ok := copiedText(row[i]); !ok || got != want {
					t.Fatalf("cut %d col %d: got %q, want %q", cut, i, got, want)
				}
			}
			if row[len(values)] != nil {
				t.Fatalf("NULL decoded as %v", row[len(values)])
			}
		}
	}
	// Values stay intact after more rows arrive (they share arenas).
	var many strings.Builder
	for i := 0; i < 3*copyBatchRows; i++ {
		many.WriteString(strings.Repeat("x", i%50) + "\t" + strings.Repeat("y", i%70) + "\n")
	}
	rows, err := parseCopy(t, 2, many.String())
	if err != nil {
		t.Fatal(err)
	}
	for i, row := range rows {
		a, _ := copiedText(row[0])
		b, _ := copiedText(row[1])
		if a != strings.Repeat("x", i%50) || b != strings.Repeat("y", i%70) {
			t.Fatalf("row %d changed: %q %q", i, a, b)
		}
	}
}

func TestCopyUnescape(t *testing.T) {
	for in, want := range map[string]string{
		`a\101b`: "aAb", `\0`: "\x00", `\x41\x4a`: "AJ", `\xg`: "xg", `\q`: "q", `\7777`: "\xff7",
	} {
		got, err := appendCopyUnescaped(nil, []byte(in))
		if err != nil || string(got) != want {
			t.Errorf("%q: got %q, %v; want %q", in, got, err, want)
		}
	}
	if _, err := appendCopyUnescaped(nil, []byte(`abc\`)); err == nil {
		t.Error("a lone trailing backslash was accepted")
	}
}

func TestCopyReaderErrors(t *testing.T) {
	for _, in := range []string{"a\tb\tc\n", "a\tb\t\n", "a\n", "a\tb"} {
		if _, err := parseCopy(t, 2, in); err == nil {
			t.Errorf("%q: no error", in)
		}
	}
	if rows, err := parseCopy(t, 0, "\n\n"); err != nil || len(rows) != 2 {
		t.Errorf("zero columns: %d rows, %v", len(rows), err)
	}
}

// FuzzCopyReader: any bytes from the server either parse or fail with an
// error; a parsed row re-escaped parses back to the same values.
func FuzzCopyReader(f *testing.F) {
	f.Add([]byte("1\tabc\t\\N\n"), 3)
	f.Add([]byte("\\x41\\101\\\\\t\\n\n"), 2)
	f.Add([]byte("a\tb"), 2)
	f.Fuzz(func(t *testing.T, data []byte, ncols int) {
		if ncols < 0 || ncols > 8 {
			return
		}
		rows, err := parseCopy(t, ncols, string(data))
		if err != nil {
			return
		}
		var again bytes.Buffer
		for _, row := range rows {
			for i, v := range row {
				if i > 0 {
					again.WriteByte('\t')
				}
				if s, ok := copiedText(v); ok {
					again.WriteString(copyEscape([]byte(s)))
				} else {
					again.WriteString(`\N`)
				}
			}
			again.WriteByte('\n')
		}
		rows2, err := parseCopy(t, ncols, again.String())
		if err != nil || len(rows2) != len(rows) {
			t.Fatalf("re-escaped rows do not parse: %v", err)
		}
		for i := range rows {
			for j := range rows[i] {
				a, aok := copiedText(rows[i][j])
				b, bok := copiedText(rows2[i][j])
				if a != b || aok != bok {
					t.Fatalf("row %d col %d: %q then %q", i, j, a, b)
				}
			}
		}
	})
}

// TestCopyReaderReuse: with reuse, each row is passed in the same buffers,
// with the same values as without, NULLs included.
func TestCopyReaderReuse(t *testing.T) {
	var in strings.Builder
	for i := 0; i < 3*copyBatchRows; i++ {
		if i%7 == 0 {
			in.WriteString(`\N`)
		} else {
			in.WriteString(strings.Repeat("x", i%50))
		}
		in.WriteString("\t" + strings.Repeat("y", i%70) + "\n")
	}
	var got []string
	var first []any
	r := &copyReader{ctx: context.Background(), ncols: 2, reuse: true, emit: func(vals []any) error {
		if first == nil {
			first = vals
		} else if &first[0] != &vals[0] {
			t.Fatal("reuse passed a row in new buffers")
		}
		a, ok := copiedText(vals[0])
		if !ok {
			a = "NULL"
		}
		b, _ := copiedText(vals[1])
		got = append(got, a+"|"+b)
		return nil
	}}
	if _, err := r.Write([]byte(in.String())); err != nil {
		t.Fatal(err)
	}
	rows, err := parseCopy(t, 2, in.String())
	if err != nil || len(rows) != len(got) {
		t.Fatalf("%d rows reused, %d not: %v", len(got), len(rows), err)
	}
	for i, row := range rows {
		a, ok := copiedText(row[0])
		if !ok {
			a = "NULL"
		}
		b, _ := copiedText(row[1])
		if want := a + "|" + b; got[i] != want {
			t.Fatalf("row %d: %q reused, %q not", i, got[i], want)
		}
	}
}
