package integration

import (
	"slices"
	"testing"
)

// TestRereadAfterKillsCountsLatestReads holds the count of rows read
// again after a kill to the killed run's latest read of each key: a
// range read again from its last hand-over [S7] does not count the
// chunks it discarded.
func TestRereadAfterKillsCountsLatestReads(t *testing.T) {
	killed := `level=DEBUG msg="snapshot chunk read" table=public.s1 chunk=a range=0 after=100 rows=50
level=DEBUG msg="snapshot chunk read" table=public.s1 chunk=b range=0 after=150 rows=50
level=DEBUG msg="snapshot chunk read" table=public.s1 chunk=c range=0 after=100 rows=50
level=DEBUG msg="snapshot chunk read" table=public.s1 chunk=d range=0 after=152 rows=50
level=DEBUG msg="snapshot chunk read" table=public.s2 chunk=e range=1 after=900 rows=50
`
	successor := `level=INFO msg="snapshot of table started" table=public.s1 range=0 estimate=1000 resume_after=100 through=500
level=INFO msg="snapshot of table started" table=public.s2 range=1 estimate=1000 resume_after=950 through=2000
`
	if got := rereadAfterKills([]string{killed, successor}); !slices.Equal(got, []int{100}) {
		t.Fatalf("rows read again: %v, want [100] (chunks c and d of s1; e of s2 was committed)", got)
	}
	// A chunk dropped at its hand-over (here for a missed commit), and the
	// chunk of its range read after it, are not the kill's: the killed
	// run would have read them again too.
	killed += `level=DEBUG msg="snapshot chunk read" table=public.s2 chunk=f range=1 after=950 rows=50
level=DEBUG msg="snapshot chunk read" table=public.s2 chunk=g range=1 after=1000 rows=50
level=DEBUG msg="snapshot chunk not handed over; its range is read again after its last chunk handed over" chunk=f range=1
`
	if got := rereadAfterKills([]string{killed, successor}); !slices.Equal(got, []int{100}) {
		t.Fatalf("rows read again: %v, want [100] (chunks f and g of s2 were dropped)", got)
	}
}
