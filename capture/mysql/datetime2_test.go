package mysql

import (
	"encoding/binary"
	"math/rand/v2"
	"testing"

	gomysql "github.com/go-mysql-org/go-mysql/mysql"
	"github.com/go-mysql-org/go-mysql/replication"
)

// goMySQLDatetime2 decodes one DATETIME2 value as go-mysql does (text, no
// time.Time), through its row image decoder.
func goMySQLDatetime2(t *testing.T, typ byte, meta uint16, value []byte) any {
	t.Helper()
	e := &replication.RowsEvent{
		Table:       &replication.TableMapEvent{ColumnCount: 1, ColumnType: []byte{typ}, ColumnMeta: []uint16{meta}, NullBitmap: []byte{1}},
		ColumnCount: 1, ColumnBitmap1: []byte{1},
	}
	if err := e.DecodeData(0, append([]byte{0}, value...)); err != nil {
		t.Fatal(err)
	}
	if len(e.Rows) != 1 || len(e.Rows[0]) != 1 {
		t.Fatalf("rows %v", e.Rows)
	}
	return e.Rows[0][0]
}

// TestDatetime2AsGoMySQL checks that reading a DATETIME2 value as BIT and
// rendering it gives go-mysql's own text, for every precision, for valid
// dates, zero dates and arbitrary bytes.
func TestDatetime2AsGoMySQL(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for dec := uint16(0); dec <= 6; dec++ {
		n := datetime2Len(dec)
		meta, ok := datetime2AsBit(dec)
		if !ok {
			t.Fatalf("dec %d not recast", dec)
		}
		values := [][]byte{make([]byte, n)} // all zero bytes
		zero := make([]byte, n)
		zero[0] = 0x80 // the zero date, 0000-00-00 00:00:00
		values = append(values, zero)
		for range 2000 {
			v := make([]byte, n)
			if r.IntN(2) == 0 {
				for i := range v {
					v[i] = byte(r.Uint32())
				}
			} else {
				// A plausible date: 1000-01-01 .. 9999-12-31.
				ym := uint64(1000+r.IntN(9000))*13 + uint64(1+r.IntN(12))
				packed := (ym<<5|uint64(1+r.IntN(31)))<<17 | uint64(r.IntN(24))<<12 | uint64(r.IntN(60))<<6 | uint64(r.IntN(60))
				var b [8]byte
				binary.BigEndian.PutUint64(b[:], packed+uint64(replication.DATETIMEF_INT_OFS))
				copy(v, b[3:])
				for i := 5; i < n; i++ {
					v[i] = byte(r.Uint32())
				}
			}
			values = append(values, v)
		}
		for _, v := range values {
			want := goMySQLDatetime2(t, gomysql.MYSQL_TYPE_DATETIME2, dec, v)
			raw, ok := goMySQLDatetime2(t, gomysql.MYSQL_TYPE_BIT, meta, v).(int64)
			if !ok {
				t.Fatalf("dec %d % x: BIT read gave %T", dec, v, raw)
			}
			if got := string(appendDatetime2(nil, uint64(raw), int(dec))); got != want {
				t.Fatalf("dec %d % x: got %q, go-mysql %q", dec, v, got, want)
			}
		}
	}
}
