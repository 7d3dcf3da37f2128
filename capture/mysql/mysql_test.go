package mysql

import (
	"errors"
	"math"
	"reflect"
	"strings"
	"testing"

	gomysql "github.com/go-mysql-org/go-mysql/mysql"
	"github.com/go-mysql-org/go-mysql/replication"

	"github.com/sluicecdc/sluice/schema"
)

func TestParseDSN(t *testing.T) {
	for _, tc := range []struct {
		dsn                    string
		user, pass, addr, host string
		port                   uint16
		net                    string
	}{
		{dsn: "mysql://sluice:s3cret@db.example:3307/app", user: "sluice", pass: "s3cret", addr: "db.example:3307", host: "db.example", port: 3307, net: "tcp"},
		{dsn: "mysql://u:p%40ss%3Aw@127.0.0.1/", user: "u", pass: "p@ss:w", addr: "127.0.0.1:3306", host: "127.0.0.1", port: 3306, net: "tcp"},
		{dsn: "mariadb://u@[::1]:3306", user: "u", addr: "[::1]:3306", host: "::1", port: 3306, net: "tcp"},
		{dsn: "u:p@tcp(10.0.0.1:3306)/", user: "u", pass: "p", addr: "10.0.0.1:3306", host: "10.0.0.1", port: 3306, net: "tcp"},
		{dsn: "u:p@tcp(10.0.0.1:3306)/db?tls=false", user: "u", pass: "p", addr: "10.0.0.1:3306", host: "10.0.0.1", port: 3306, net: "tcp"},
		{dsn: "u:p@unix(/run/mysqld/mysqld.sock)/", user: "u", pass: "p", addr: "/run/mysqld/mysqld.sock", host: "/run/mysqld/mysqld.sock", net: "unix"},
	} {
		c, err := ParseDSN(tc.dsn)
		if err != nil {
			t.Errorf("%s: %v", tc.dsn, err)
			continue
		}
		if c.User != tc.user || c.Password != tc.pass || c.Addr != tc.addr || c.Host != tc.host || c.Port != tc.port || c.Net != tc.net {
			t.Errorf("%s: %+v", tc.dsn, c)
		}
	}
	for _, dsn := range []string{
		"", "postgres://u:Secret-1@h/", "mysql://h:3306/", "mysql://u:Secret-1@:3306/", "mysql://u:Secret-1@h:99999/",
		"u:Secret-1@udp(h:1)/", "just words Secret-1", "mysql://u:Secret-1@h:3306/a/b",
	} {
		_, err := ParseDSN(dsn)
		var se *SetupError
		if !errors.As(err, &se) || se.What != "source.dsn" {
			t.Errorf("%q: error %v, want a source.dsn SetupError", dsn, err)
			continue
		}
		if strings.Contains(err.Error(), "Secret-1") {
			t.Errorf("%q: the error shows the password: %v", dsn, err)
		}
	}
}

func TestClassify(t *testing.T) {
	for q, want := range map[string]stmtKind{
		"BEGIN":                         stmtBegin,
		"  /* x */ begin":               stmtBegin,
		"START TRANSACTION":             stmtBegin,
		"COMMIT":                        stmtCommit,
		"ROLLBACK":                      stmtRollback,
		"ROLLBACK TO SAVEPOINT s":       stmtSavepoint,
		"ROLLBACK WORK TO s":            stmtSavepoint,
		"SAVEPOINT s":                   stmtSavepoint,
		"XA START 'x'":                  stmtXA,
		"ALTER TABLE t ADD c int":       stmtDDL,
		"-- c\nCREATE TABLE t (a int)":  stmtDDL,
		"# c\nDROP TABLE t":             stmtDDL,
		"create or replace view v as 1": stmtDDL,
		"TRUNCATE t":                    stmtDDL,
		"RENAME TABLE a TO b":           stmtDDL,
		"CREATE USER 'u'@'%' IDENTIFIED BY PASSWORD '*ABC'": stmtOther,
		"ALTER USER 'u' IDENTIFIED BY 'x'":                  stmtOther,
		"CREATE OR REPLACE ROLE r":                          stmtOther,
		"DROP SERVER s":                                     stmtOther,
		"GRANT SELECT ON *.* TO u":                          stmtOther,
		"SET PASSWORD FOR u = 'x'":                          stmtOther,
		"":                                                  stmtOther,
		"/* unterminated":                                   stmtOther,
	} {
		if got := classify(q); got != want {
			t.Errorf("classify(%q) = %d, want %d", q, got, want)
		}
	}
}

func FuzzClassify(f *testing.F) {
	for _, s := range []string{"BEGIN", "/* a */ CREATE TABLE t", "-- x\n", "#", "CREATE USER x", "ROLLBACK WORK TO"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, q string) {
		if classify(q) != stmtDDL {
			return
		}
		words := leadingWords(q, 5)
		switch words[0] {
		case "CREATE", "ALTER", "DROP", "RENAME", "TRUNCATE":
		default:
			t.Fatalf("%q classified as DDL", q)
		}
		for _, w := range words {
			if w == "USER" || w == "ROLE" || w == "SERVER" {
				t.Fatalf("%q (about a user, role or server) classified as DDL", q)
			}
		}
	})
}

// tableMapEvent builds a TABLE_MAP as go-mysql decodes one with full
// metadata: id int unsigned PK, name varchar(20) utf8mb4, price
// decimal(10,2), state enum, flags set, data blob, bits bit(12), at
// datetime(3), code char(3) latin1, raw binary(4), geo point.
func tableMapEvent() *replication.TableMapEvent {
	return &replication.TableMapEvent{
		Schema: []byte("shop"), Table: []byte("items"), ColumnCount: 11,
		ColumnType: []byte{gomysql.MYSQL_TYPE_LONG, gomysql.MYSQL_TYPE_VARCHAR, gomysql.MYSQL_TYPE_NEWDECIMAL,
			gomysql.MYSQL_TYPE_STRING, gomysql.MYSQL_TYPE_STRING, gomysql.MYSQL_TYPE_BLOB, gomysql.MYSQL_TYPE_BIT,
			gomysql.MYSQL_TYPE_DATETIME2, gomysql.MYSQL_TYPE_STRING, gomysql.MYSQL_TYPE_STRING, gomysql.MYSQL_TYPE_GEOMETRY},
		ColumnMeta: []uint16{0, 80, 10<<8 | 2, uint16(gomysql.MYSQL_TYPE_ENUM)<<8 | 1, uint16(gomysql.MYSQL_TYPE_SET)<<8 | 1,
			2, 1<<8 | 4, 3, uint16(gomysql.MYSQL_TYPE_STRING)<<8 | 3, uint16(gomysql.MYSQL_TYPE_STRING)<<8 | 4, 4},
		NullBitmap:       []byte{0xfe, 0x07},
		SignednessBitmap: []byte{0x80}, // numeric columns id, price: id unsigned
		ColumnName: [][]byte{[]byte("id"), []byte("name"), []byte("price"), []byte("state"), []byte("flags"),
			[]byte("data"), []byte("bits"), []byte("at"), []byte("code"), []byte("raw"), []byte("geo")},
		// Character columns in order: name, data, code, raw.
		ColumnCharset:        []uint64{45, 63, 8, 63},
		EnumSetColumnCharset: []uint64{45, 45},
		EnumStrValue:         [][][]byte{{[]byte("new"), []byte("done")}},
		SetStrValue:          [][][]byte{{[]byte("a"), []byte("b")}},
		GeometryType:         []uint64{1},
		PrimaryKey:           []uint64{0},
	}
}

func TestTableFromMap(t *testing.T) {
	colls := map[uint64]string{45: "utf8mb4", 8: "latin1"}
	got, err := TableFromMap(tableMapEvent(), colls)
	if err != nil {
		t.Fatal(err)
	}
	want := &schema.Table{ID: schema.TableID{Namespace: "shop", Name: "items"}, Key: []int{0}, Columns: []schema.Column{
		{Name: "id", Type: "int", Unsigned: true},
		{Name: "name", Type: "varchar", Length: 80, Charset: "utf8mb4", Nullable: true},
		{Name: "price", Type: "decimal", Precision: 10, Scale: 2, Nullable: true},
		{Name: "state", Type: "enum", Enum: []string{"new", "done"}, Charset: "utf8mb4", Nullable: true},
		{Name: "flags", Type: "set", Enum: []string{"a", "b"}, Charset: "utf8mb4", Nullable: true},
		{Name: "data", Type: "blob", Charset: "binary", Nullable: true},
		{Name: "bits", Type: "bit", Length: 12, Nullable: true},
		{Name: "at", Type: "datetime", Precision: 3, Nullable: true},
		{Name: "code", Type: "char", Length: 3, Charset: "latin1", Nullable: true},
		{Name: "raw", Type: "binary", Length: 4, Charset: "binary", Nullable: true},
		{Name: "geo", Type: "point", Nullable: true},
	}}
	if !reflect.DeepEqual(got, want) {
		for i := range want.Columns {
			if i < len(got.Columns) && !reflect.DeepEqual(got.Columns[i], want.Columns[i]) {
				t.Errorf("column %d: %+v, want %+v", i, got.Columns[i], want.Columns[i])
			}
		}
		t.Fatalf("table %+v", got)
	}
	// Every column maps to an Avro type.
	if _, err := schema.NewCodec("x.shop.items", got, schema.CodecOptions{Kind: schema.MySQL, Name: "x"}); err != nil {
		t.Fatal(err)
	}

	// Without full metadata there are no names: refused.
	ev := tableMapEvent()
	ev.ColumnName = nil
	if _, err := TableFromMap(ev, colls); !errors.Is(err, ErrNoRowMetadata) {
		t.Errorf("no names: %v, want ErrNoRowMetadata", err)
	}

	// information_schema completes MariaDB's JSON only when it describes
	// the same columns.
	long := &schema.Table{Columns: []schema.Column{{Name: "id", Type: "int"}, {Name: "doc", Type: "longtext", Charset: "utf8mb4"}}}
	info := []infoColumn{{name: "id", dataType: "int"}, {name: "doc", dataType: "longtext", json: true}}
	if !ApplyInfo(long, info) || long.Columns[1].Type != "json" {
		t.Errorf("matching info: %+v", long.Columns)
	}
	long.Columns[1].Type = "longtext"
	renamed := []infoColumn{{name: "id", dataType: "int"}, {name: "body", dataType: "longtext", json: true}}
	if ApplyInfo(long, renamed) || long.Columns[1].Type != "longtext" {
		t.Errorf("info of another definition was used: %+v", long.Columns)
	}
	retyped := []infoColumn{{name: "id", dataType: "bigint"}, {name: "doc", dataType: "longtext", json: true}}
	if ApplyInfo(long, retyped) {
		t.Error("info with another type was used")
	}
}

// FromText must produce exactly what the binlog decoder does for the same
// value, and the two must encode identically.
func TestFromText(t *testing.T) {
	col := func(typ string, unsigned bool) *schema.Column {
		return &schema.Column{Name: "v", Type: typ, Unsigned: unsigned, Precision: 6, Scale: 2, Length: 16,
			Enum: []string{"a", "b", "c"}}
	}
	for _, tc := range []struct {
		col    *schema.Column
		text   string
		binlog any
	}{
		{col("tinyint", false), "-128", int8(-128)},
		{col("tinyint", true), "255", int8(-1)},
		{col("smallint", true), "65535", int16(-1)},
		{col("mediumint", true), "16777215", int32(-1)},
		{col("mediumint", true), "8388608", int32(-8388608)},
		{col("mediumint", false), "-1", int32(-1)},
		{col("int", true), "4294967295", int32(-1)},
		{col("bigint", true), "18446744073709551615", int64(-1)},
		{col("bigint", false), "-9223372036854775808", int64(math.MinInt64)},
		{col("float", false), "0.10000000149011612", float32(0.1)},
		{col("double", false), "5e-324", 5e-324},
		{col("bit", false), "\x80\x00", int64(0x8000)},
		{col("year", false), "0", 0},
		{col("enum", false), "2", int64(2)},
		{col("set", false), "5", int64(5)},
		{col("decimal", false), "-1.50", "-1.50"},
		{col("time", false), "-838:59:59.000000", "-838:59:59.000000"},
	} {
		got, err := FromText(tc.col, []byte(tc.text))
		if err != nil {
			t.Errorf("%s %q: %v", tc.col.Type, tc.text, err)
			continue
		}
		if got != tc.binlog {
			t.Errorf("%s %q: %#v, want the binlog's %#v", tc.col.Type, tc.text, got, tc.binlog)
		}
		ct, err := schema.MySQLColumnType(tc.col)
		if err != nil {
			continue
		}
		a, errA := ct.Append(nil, got)
		b, errB := ct.Append(nil, tc.binlog)
		if errA != nil || errB != nil || string(a) != string(b) {
			t.Errorf("%s %q: encodes % x (%v), binlog value % x (%v)", tc.col.Type, tc.text, a, errA, b, errB)
		}
	}
	if _, err := FromText(col("int", false), []byte("x")); err == nil {
		t.Error("bad integer text: no error")
	}
}

func TestParseEnumLabels(t *testing.T) {
	got, err := parseEnumLabels(`enum('a','it''s','x,y','')`)
	if err != nil || !reflect.DeepEqual(got, []string{"a", "it's", "x,y", ""}) {
		t.Errorf("%q %v", got, err)
	}
	if _, err := parseEnumLabels("enum('a'"); err == nil {
		t.Error("unterminated: no error")
	}
}

func TestGrants(t *testing.T) {
	privs, on, ok := parseGrant("GRANT SELECT, REPLICATION SLAVE, BINLOG MONITOR ON *.* TO `sluice`@`%` IDENTIFIED BY PASSWORD '*X'")
	if !ok || on != "*.*" || !reflect.DeepEqual(privs, []string{"SELECT", "REPLICATION SLAVE", "BINLOG MONITOR"}) {
		t.Errorf("%q %q %v", privs, on, ok)
	}
	if _, on, _ := parseGrant("GRANT SELECT (a, b) ON `db`.`t` TO `u`@`%`"); on != "db.t" {
		t.Errorf("column grant on %q", on)
	}
	if r, ok := roleGrant("GRANT `cdc`@`%` TO `sluice`@`%`"); !ok || r != "`cdc`@`%`" {
		t.Errorf("mysql role: %q %v", r, ok)
	}
	if r, ok := roleGrant("GRANT `cdc` TO `sluice`@`%`"); !ok || r != "`cdc`" {
		t.Errorf("mariadb role: %q %v", r, ok)
	}
	if _, ok := roleGrant("GRANT SELECT ON *.* TO `u`@`%`"); ok {
		t.Error("a privilege grant read as a role")
	}
}
