package mysql

import (
	"strings"
	"testing"

	"github.com/sluicecdc/sluice/checkpoint"
)

func TestMySQLGTIDSetMinus(t *testing.T) {
	const a, b = "3e11fa47-71ca-11e1-9e33-c80aa9429562", "4e11fa47-71ca-11e1-9e33-c80aa9429562"
	for _, c := range []struct{ s, o, want string }{
		{a + ":1-10", a + ":1-10", ""},
		{a + ":1-10", a + ":1-4:6-8", a + ":5:9-10"},
		{a + ":1-10," + b + ":1-3", a + ":1-20", b + ":1-3"},
		{a + ":1-10:tag:1-5", a + ":1-10:tag:1-2", a + ":tag:3-5"},
		{a + ":5-7", "", a + ":5-7"},
		{"", a + ":1", ""},
	} {
		s, err1 := ParseMySQLGTIDSet(c.s)
		o, err2 := ParseMySQLGTIDSet(c.o)
		if err1 != nil || err2 != nil {
			t.Fatal(err1, err2)
		}
		got := s.Minus(o)
		if got.String() != c.want || got.Empty() != (c.want == "") {
			t.Errorf("%s minus %s = %q (empty %v), want %q", c.s, c.o, got, got.Empty(), c.want)
		}
	}
}

// TestFailoverStart: a checkpoint from another server is followed exactly
// when both have GTIDs and the new server has every transaction of it.
func TestFailoverStart(t *testing.T) {
	const old, nu = "3e11fa47-71ca-11e1-9e33-c80aa9429562", "4e11fa47-71ca-11e1-9e33-c80aa9429562"
	my := &Server{Flavor: FlavorMySQL, UUID: nu, GTID: true}
	maria := &Server{Flavor: FlavorMariaDB, ServerID: 2, DomainID: 0, GTID: true}
	pos := func(gtid string) checkpoint.Position {
		return checkpoint.Position{File: "mysql-bin.000007", Pos: 1234, GTIDSet: gtid}
	}
	for _, c := range []struct {
		name, cpID string
		cp         checkpoint.Position
		srv        *Server
		executed   string
		refusal    string // "" = followed
	}{
		{"mysql follows", "mysql:" + old, pos(old + ":1-100"), my, old + ":1-120," + nu + ":1-3", ""},
		{"mysql missing", "mysql:" + old, pos(old + ":1-100"), my, old + ":1-90:95-120", "missing GTIDs " + old + ":91-94"},
		{"mysql tagged follows", "mysql:" + old, pos(old + ":1-100:t:1-3"), my, old + ":1-100:t:1-5:u:1," + nu + ":1", ""},
		{"mysql tagged missing", "mysql:" + old, pos(old + ":1-100:t:1-3"), my, old + ":1-100:t:1-2", "missing GTIDs " + old + ":t:3"},
		{"mysql tagged, untagged missing", "mysql:" + old, pos(old + ":1-100:t:1-3"), my, old + ":1-99:t:1-3", "missing GTIDs " + old + ":100 "},
		{"mysql no gtid in checkpoint", "mysql:" + old, pos(""), my, old + ":1-100", "without GTIDs a checkpoint is a binlog file:position"},
		{"mysql gtid_mode off", "mysql:" + old, pos(old + ":1-100"), &Server{Flavor: FlavorMySQL, UUID: nu}, "", "gtid_mode OFF"},
		{"flavor", "mariadb:1:0", pos("0-1-10"), my, old + ":1-100", "the checkpoint was taken on mariadb, this server is mysql"},
		{"mariadb follows", "mariadb:1:0", pos("0-1-100,1-1-7"), maria, "0-1-100,1-3-9", ""},
		{"mariadb domain behind", "mariadb:1:0", pos("0-1-100,1-1-7"), maria, "0-1-100,1-1-5", "missing domain 1: checkpoint at 1-1-7, the server only at 1-1-5"},
		{"mariadb domain absent", "mariadb:1:0", pos("0-1-100,1-1-7"), maria, "0-1-100", "missing domain 1: checkpoint at 1-1-7, the server has no GTID in that domain"},
	} {
		got, err := FailoverStart(c.cpID, c.cp, c.srv, c.executed)
		if c.refusal == "" {
			if err != nil || got.GTIDSet != c.cp.GTIDSet || got.File != "" || got.Pos != 0 {
				t.Errorf("%s: got %+v, %v; want the GTID set alone", c.name, got, err)
			}
			continue
		}
		se, ok := SetupErr(err)
		if !ok || !strings.Contains(se.Err.Error(), c.refusal) || !strings.Contains(se.Err.Error(), "the checkpoint belongs to server "+c.cpID) || se.Fix == "" {
			t.Errorf("%s: got %+v, %v; want a refusal saying %q", c.name, got, err, c.refusal)
		}
	}
}
