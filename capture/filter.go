package capture

import (
	"errors"
	"fmt"
	"path"
	"sort"
	"strings"

	"github.com/sluicecdc/sluice/schema"
)

// Filter selects the captured tables: source.tables (include patterns;
// empty: every user table) less source.exclude_tables. Patterns are
// path.Match globs over "<namespace>.<table>", case-sensitive.
type Filter struct {
	Include []string
	Exclude []string
}

// Match reports whether the table is captured.
func (f *Filter) Match(id schema.TableID) bool {
	s := id.String()
	if len(f.Include) > 0 {
		ok := false
		for _, p := range f.Include {
			if m, _ := path.Match(p, s); m {
				ok = true
				break
			}
		}
		if !ok {
			return false
		}
	}
	for _, p := range f.Exclude {
		if m, _ := path.Match(p, s); m {
			return false
		}
	}
	return true
}

// isGlob reports whether a pattern has glob characters.
func isGlob(p string) bool { return strings.ContainsAny(p, `*?[\`) }

// Verify checks the include list against every table that exists (before
// any filtering). A literal name that matches no table is an error: it is
// almost always a typo or a case mismatch, and capturing without it would
// look like success while a table's changes are lost; the error names the
// closest existing tables. A glob that matches nothing is only a warning
// (returned as text): globs are written ahead of tables.
func (f *Filter) Verify(all []schema.TableID) (warnings []string, err error) {
	var missing []string
	for _, p := range f.Include {
		found := false
		for _, id := range all {
			if m, _ := path.Match(p, id.String()); m {
				found = true
				break
			}
		}
		switch {
		case found:
		case isGlob(p):
			warnings = append(warnings, fmt.Sprintf("source.tables pattern %q matches no table", p))
		default:
			missing = append(missing, p)
		}
	}
	if len(missing) == 0 {
		return warnings, nil
	}
	var errs, fixes []string
	for _, m := range missing {
		errs = append(errs, fmt.Sprintf("%q matches no table", m))
		if c := Closest(m, all, 3); len(c) > 0 {
			fixes = append(fixes, fmt.Sprintf("for %q did you mean %s?", m, strings.Join(c, ", ")))
		}
	}
	fix := "names are case-sensitive <namespace>.<table>; check that the table exists and that Sluice's user may see it"
	if len(fixes) > 0 {
		fix = strings.Join(fixes, "; ") + " (" + fix + ")"
	}
	return warnings, &SetupError{What: "source.tables", Err: errors.New(strings.Join(errs, ", ")), Fix: fix}
}

// Closest returns up to n existing table names nearest to name: a
// case-insensitive match first, then by edit distance (at most a third of
// the name's length, so that unrelated names are not offered).
func Closest(name string, all []schema.TableID, n int) []string {
	type cand struct {
		s string
		d int
	}
	limit := max(2, len(name)/3)
	var cs []cand
	lname := strings.ToLower(name)
	for _, id := range all {
		s := id.String()
		d := 0
		if strings.ToLower(s) != lname {
			d = 1 + editDistance(lname, strings.ToLower(s))
		}
		if d <= limit+1 {
			cs = append(cs, cand{s, d})
		}
	}
	sort.Slice(cs, func(i, j int) bool { return cs[i].d < cs[j].d || cs[i].d == cs[j].d && cs[i].s < cs[j].s })
	var out []string
	for i := 0; i < len(cs) && i < n; i++ {
		out = append(out, cs[i].s)
	}
	return out
}

// editDistance is the Levenshtein distance between a and b, in bytes.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
