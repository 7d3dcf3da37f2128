package app_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/sluicecdc/sluice/capture"
	"github.com/sluicecdc/sluice/internal/app"
	"github.com/sluicecdc/sluice/schema"
	"github.com/sluicecdc/sluice/snapshot"
)

// TestDashboardMetricsExist parses every PromQL expression of the Grafana
// dashboard and fails when one names a metric that /metrics does not
// emit, so that renaming a metric cannot silently blank a panel.
func TestDashboardMetricsExist(t *testing.T) {
	emitted := emittedMetrics(t)
	exprs := dashboardExprs(t, "../../deploy/grafana/sluice.json")
	if len(exprs) == 0 {
		t.Fatal("no PromQL expression found in the dashboard")
	}
	used := map[string]bool{}
	for _, e := range exprs {
		names, err := promqlMetricNames(e.expr)
		if err != nil {
			t.Errorf("%s: %q: %v", e.where, e.expr, err)
			continue
		}
		if len(names) == 0 {
			t.Errorf("%s: %q selects no metric", e.where, e.expr)
		}
		for _, n := range names {
			used[n] = true
			if !emitted[n] {
				t.Errorf("%s: %q uses %s, which (*State).WriteMetrics does not emit (it emits %s)", e.where, e.expr, n, strings.Join(sortedKeys(emitted), ", "))
			}
		}
	}
	// Not a failure: a new metric may wait for its panel.
	for _, n := range sortedKeys(emitted) {
		if !used[n] {
			t.Logf("metric %s has no panel in the dashboard", n)
		}
	}
}

// emittedMetrics renders /metrics for a populated State and returns the
// metric names: those of the # TYPE lines (written whether or not a
// series has samples yet) and of the sample lines.
func emittedMetrics(t *testing.T) map[string]bool {
	t.Helper()
	st := app.NewState()
	st.Phase.Store("streaming")
	orders := schema.TableID{Namespace: "public", Name: "orders"}
	// Series with labels exist once they have a sample.
	st.Metrics.Event(orders, capture.OpCreate, 120, time.Now().UnixMilli())
	tp := &snapshot.TableProgress{ID: orders, Total: 1000}
	tp.Done.Store(250)
	st.Snapshot = snapshot.NewProgress(tp)
	st.Metrics.Bytes.Store(12345)
	st.Metrics.Commits.Store(7)
	st.Metrics.LastCommitUnixMs.Store(time.Now().Add(-2 * time.Second).UnixMilli())
	var b bytes.Buffer
	if err := st.WriteMetrics(&b); err != nil {
		t.Fatal(err)
	}
	out := map[string]bool{}
	sample := regexp.MustCompile(`^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{.*\})? [^ ]+$`)
	for _, line := range strings.Split(b.String(), "\n") {
		switch {
		case strings.HasPrefix(line, "# TYPE "):
			f := strings.Fields(line)
			if len(f) != 4 {
				t.Fatalf("malformed TYPE line %q", line)
			}
			out[f[2]] = true
		case line == "", strings.HasPrefix(line, "#"):
		default:
			m := sample.FindStringSubmatch(line)
			if m == nil {
				t.Fatalf("malformed sample line %q", line)
			}
			out[m[1]] = true
		}
	}
	for _, want := range []string{"sluice_ready", "sluice_checkpoint_age_seconds"} {
		if !out[want] {
			t.Fatalf("the populated State does not emit %s; /metrics:\n%s", want, b.String())
		}
	}
	return out
}

type dashExpr struct{ where, expr string }

// dashboardExprs returns the PromQL of every panel target (rows' nested
// panels included) and of every query variable.
func dashboardExprs(t *testing.T, path string) []dashExpr {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var d struct {
		Panels     []dashPanel `json:"panels"`
		Templating struct {
			List []struct {
				Name  string          `json:"name"`
				Type  string          `json:"type"`
				Query json.RawMessage `json:"query"`
			} `json:"list"`
		} `json:"templating"`
	}
	if err := json.Unmarshal(raw, &d); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	var out []dashExpr
	var walk func([]dashPanel)
	walk = func(ps []dashPanel) {
		for _, p := range ps {
			for _, tg := range p.Targets {
				if strings.TrimSpace(tg.Expr) == "" {
					t.Errorf("panel %q target %s has no expr", p.Title, tg.RefID)
					continue
				}
				out = append(out, dashExpr{fmt.Sprintf("panel %q target %s", p.Title, tg.RefID), tg.Expr})
			}
			walk(p.Panels)
		}
	}
	walk(d.Panels)
	labelValues := regexp.MustCompile(`^label_values\((.*),\s*[a-zA-Z_][a-zA-Z0-9_]*\)$`)
	for _, v := range d.Templating.List {
		if v.Type != "query" {
			continue
		}
		var q string
		var obj struct {
			Query string `json:"query"`
		}
		if json.Unmarshal(v.Query, &q) != nil {
			if err := json.Unmarshal(v.Query, &obj); err != nil {
				t.Errorf("variable %s: query: %v", v.Name, err)
				continue
			}
			q = obj.Query
		}
		// Grafana's label_values(selector, label) wraps a selector.
		if m := labelValues.FindStringSubmatch(q); m != nil {
			q = m[1]
		}
		out = append(out, dashExpr{"variable " + v.Name, q})
	}
	return out
}

type dashPanel struct {
	Title   string `json:"title"`
	Targets []struct {
		Expr  string `json:"expr"`
		RefID string `json:"refId"`
	} `json:"targets"`
	Panels []dashPanel `json:"panels"`
}

func sortedKeys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// TestPromQLParser: the parser accepts what the dashboard may use and
// rejects malformed expressions, so a passing dashboard test means the
// expressions were parsed, not skimmed.
func TestPromQLParser(t *testing.T) {
	good := []struct {
		expr  string
		names []string
	}{
		{`up`, []string{"up"}},
		{`sum by (table) (rate(sluice_events_total{job=~"$job", op!="r"}[$__rate_interval]))`, []string{"sluice_events_total"}},
		{`sum(rate(a_total[5m])) by (instance) / on (instance) group_left sum(b)`, []string{"a_total", "b"}},
		{`histogram_quantile(0.99, sum by (le) (rate(x_bucket[1m30s])))`, []string{"x_bucket"}},
		{`max_over_time(sluice_checkpoint_age_seconds[10m:1m] offset 5m) > bool 30`, []string{"sluice_checkpoint_age_seconds"}},
		{`-sluice_ready + 1 unless absent(sluice_ready)`, []string{"sluice_ready"}},
		{`{__name__="sluice_ready"}`, []string{"sluice_ready"}},
		{`topk(5, sum without (op) (sluice_events_total))`, []string{"sluice_events_total"}},
		{`clamp_min(sum by (table) (s_estimate), 1) * 100`, []string{"s_estimate"}},
	}
	for _, g := range good {
		names, err := promqlMetricNames(g.expr)
		if err != nil {
			t.Errorf("%q: %v", g.expr, err)
			continue
		}
		if strings.Join(names, ",") != strings.Join(g.names, ",") {
			t.Errorf("%q: metrics %v, want %v", g.expr, names, g.names)
		}
	}
	bad := []string{
		``,
		`sum(rate(x[5m])`,
		`rate(x[5m]))`,
		`x{job="a"`,
		`x{job=a}`,
		`x[5q]`,
		`nosuchfunc(x)`,
		`sum by table (x)`,
		`x +`,
		`x y`,
		`rate(x[5m]) by (table)`,
		`"unterminated`,
	}
	for _, b := range bad {
		if names, err := promqlMetricNames(b); err == nil {
			t.Errorf("%q parsed (metrics %v), want an error", b, names)
		}
	}
}

// ------------------------------------------------------------ PromQL --
//
// A parser for the PromQL subset dashboards use: selectors with label
// matchers, range and subquery brackets, offset, functions, aggregations
// with by/without before or after their arguments, binary operators with
// bool and vector matching, numbers and strings. Grafana variables
// ($job, $__rate_interval) are allowed where a string or duration goes.
// It is here instead of the Prometheus parser to keep that large module
// out of go.mod for one test.

var (
	promFuncs = map[string]bool{
		"abs": true, "absent": true, "absent_over_time": true, "avg_over_time": true, "ceil": true, "changes": true,
		"clamp": true, "clamp_max": true, "clamp_min": true, "count_over_time": true, "delta": true, "deriv": true,
		"exp": true, "floor": true, "histogram_quantile": true, "idelta": true, "increase": true, "irate": true,
		"label_join": true, "label_replace": true, "last_over_time": true, "ln": true, "log10": true, "log2": true,
		"max_over_time": true, "min_over_time": true, "predict_linear": true, "quantile_over_time": true, "rate": true,
		"resets": true, "round": true, "scalar": true, "sort": true, "sort_desc": true, "sqrt": true,
		"stddev_over_time": true, "sum_over_time": true, "time": true, "timestamp": true, "vector": true,
	}
	promAggs = map[string]bool{
		"avg": true, "bottomk": true, "count": true, "count_values": true, "group": true, "max": true, "min": true,
		"quantile": true, "stddev": true, "stdvar": true, "sum": true, "topk": true,
	}
	promKeywordOps = map[string]bool{"and": true, "or": true, "unless": true}
	promDuration   = regexp.MustCompile(`^(\$[a-zA-Z_][a-zA-Z0-9_]*|\$\{[a-zA-Z_][a-zA-Z0-9_]*\}|([0-9]+(ms|s|m|h|d|w|y))+)$`)
)

type promTok struct {
	kind string // ident, num, str, op, punct, range, eof
	s    string
}

func promLex(src string) ([]promTok, error) {
	var toks []promTok
	i := 0
	for i < len(src) {
		c := src[i]
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
			i++
		case c == '"' || c == '\'' || c == '`':
			j := i + 1
			for j < len(src) && src[j] != c {
				if src[j] == '\\' && c != '`' {
					j++
				}
				j++
			}
			if j >= len(src) {
				return nil, fmt.Errorf("unterminated string at %d", i)
			}
			toks = append(toks, promTok{"str", src[i+1 : j]})
			i = j + 1
		case c == '[':
			j := strings.IndexByte(src[i:], ']')
			if j < 0 {
				return nil, fmt.Errorf("unterminated [ at %d", i)
			}
			toks = append(toks, promTok{"range", strings.TrimSpace(src[i+1 : i+j])})
			i += j + 1
		case c >= '0' && c <= '9' || c == '.':
			j := i
			for j < len(src) && (src[j] >= '0' && src[j] <= '9' || src[j] == '.' || src[j] == 'e' || src[j] == 'E') {
				j++
			}
			// A duration after offset: digits followed by a unit.
			k := j
			for k < len(src) && strings.IndexByte("smhdwy", src[k]) >= 0 {
				k++
			}
			if k > j {
				toks = append(toks, promTok{"dur", src[i:k]})
				i = k
				continue
			}
			toks = append(toks, promTok{"num", src[i:j]})
			i = j
		case c == '_' || c == ':' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z':
			j := i
			for j < len(src) && (src[j] == '_' || src[j] == ':' || src[j] >= 'a' && src[j] <= 'z' || src[j] >= 'A' && src[j] <= 'Z' || src[j] >= '0' && src[j] <= '9') {
				j++
			}
			toks = append(toks, promTok{"ident", src[i:j]})
			i = j
		case c == '$':
			j := i + 1
			for j < len(src) && (src[j] == '_' || src[j] == '{' || src[j] == '}' || src[j] >= 'a' && src[j] <= 'z' || src[j] >= 'A' && src[j] <= 'Z' || src[j] >= '0' && src[j] <= '9') {
				j++
			}
			toks = append(toks, promTok{"var", src[i:j]})
			i = j
		default:
			two := ""
			if i+1 < len(src) {
				two = src[i : i+2]
			}
			switch two {
			case "==", "!=", ">=", "<=", "=~", "!~":
				toks = append(toks, promTok{"op", two})
				i += 2
				continue
			}
			switch c {
			case '+', '-', '*', '/', '%', '^', '>', '<', '=':
				toks = append(toks, promTok{"op", string(c)})
			case '(', ')', '{', '}', ',':
				toks = append(toks, promTok{"punct", string(c)})
			default:
				return nil, fmt.Errorf("unexpected %q at %d", c, i)
			}
			i++
		}
	}
	return append(toks, promTok{"eof", ""}), nil
}

type promParser struct {
	toks  []promTok
	pos   int
	names []string
}

func (p *promParser) peek() promTok { return p.toks[p.pos] }
func (p *promParser) next() promTok {
	t := p.toks[p.pos]
	if t.kind != "eof" { // eof stays current, however often it is read
		p.pos++
	}
	return t
}

func (p *promParser) expect(kind, s string) error {
	t := p.next()
	if t.kind != kind || t.s != s {
		return fmt.Errorf("want %q, got %q", s, t.s)
	}
	return nil
}

// promqlMetricNames parses expr and returns the metric names it selects,
// sorted and deduplicated.
func promqlMetricNames(expr string) ([]string, error) {
	toks, err := promLex(expr)
	if err != nil {
		return nil, err
	}
	p := &promParser{toks: toks}
	if err := p.expr(); err != nil {
		return nil, err
	}
	if t := p.peek(); t.kind != "eof" {
		return nil, fmt.Errorf("unexpected %q after the expression", t.s)
	}
	seen := map[string]bool{}
	var out []string
	for _, n := range p.names {
		if !seen[n] {
			seen[n] = true
			out = append(out, n)
		}
	}
	sort.Strings(out)
	return out, nil
}

func (p *promParser) isBinOp(t promTok) bool {
	if t.kind == "op" && t.s != "=" && t.s != "=~" && t.s != "!~" {
		return true
	}
	return t.kind == "ident" && promKeywordOps[t.s]
}

func (p *promParser) expr() error {
	if err := p.unary(); err != nil {
		return err
	}
	for p.isBinOp(p.peek()) {
		p.next()
		if t := p.peek(); t.kind == "ident" && t.s == "bool" {
			p.next()
		}
		if t := p.peek(); t.kind == "ident" && (t.s == "on" || t.s == "ignoring") {
			p.next()
			if err := p.labelList(); err != nil {
				return err
			}
			if t := p.peek(); t.kind == "ident" && (t.s == "group_left" || t.s == "group_right") {
				p.next()
				if t := p.peek(); t.kind == "punct" && t.s == "(" {
					if err := p.labelList(); err != nil {
						return err
					}
				}
			}
		}
		if err := p.unary(); err != nil {
			return err
		}
	}
	return nil
}

func (p *promParser) unary() error {
	if t := p.peek(); t.kind == "op" && (t.s == "-" || t.s == "+") {
		p.next()
	}
	if err := p.primary(); err != nil {
		return err
	}
	return p.postfix()
}

// postfix parses [range] or [range:step] and offset after an operand.
func (p *promParser) postfix() error {
	if t := p.peek(); t.kind == "range" {
		p.next()
		rng, step, sub := strings.Cut(t.s, ":")
		if !promDuration.MatchString(rng) || sub && step != "" && !promDuration.MatchString(step) {
			return fmt.Errorf("invalid range [%s]", t.s)
		}
	}
	if t := p.peek(); t.kind == "ident" && t.s == "offset" {
		p.next()
		d := p.next()
		if d.kind != "dur" && d.kind != "var" || !promDuration.MatchString(d.s) {
			return fmt.Errorf("invalid offset %q", d.s)
		}
	}
	return nil
}

func (p *promParser) primary() error {
	t := p.next()
	switch t.kind {
	case "num", "str":
		return nil
	case "punct":
		switch t.s {
		case "(":
			if err := p.expr(); err != nil {
				return err
			}
			return p.expect("punct", ")")
		case "{":
			p.pos--
			return p.selector("")
		}
	case "ident":
		switch {
		case promAggs[t.s]:
			return p.aggregation()
		case promFuncs[t.s]:
			return p.call()
		case p.peek().kind == "punct" && p.peek().s == "(":
			return fmt.Errorf("unknown function %s", t.s)
		case promKeywordOps[t.s] || t.s == "by" || t.s == "without" || t.s == "offset" || t.s == "bool":
			return fmt.Errorf("unexpected keyword %s", t.s)
		}
		return p.selector(t.s)
	}
	return fmt.Errorf("unexpected %q", t.s)
}

func (p *promParser) aggregation() error {
	grouped := false
	if t := p.peek(); t.kind == "ident" && (t.s == "by" || t.s == "without") {
		p.next()
		if err := p.labelList(); err != nil {
			return err
		}
		grouped = true
	}
	if err := p.call(); err != nil {
		return err
	}
	if t := p.peek(); !grouped && t.kind == "ident" && (t.s == "by" || t.s == "without") {
		p.next()
		return p.labelList()
	}
	return nil
}

func (p *promParser) call() error {
	if err := p.expect("punct", "("); err != nil {
		return err
	}
	if t := p.peek(); t.kind == "punct" && t.s == ")" {
		p.next()
		return nil
	}
	for {
		if err := p.expr(); err != nil {
			return err
		}
		t := p.next()
		if t.kind == "punct" && t.s == ")" {
			return nil
		}
		if t.kind != "punct" || t.s != "," {
			return fmt.Errorf("want , or ) in arguments, got %q", t.s)
		}
	}
}

func (p *promParser) labelList() error {
	if err := p.expect("punct", "("); err != nil {
		return fmt.Errorf("label list: %w", err)
	}
	for {
		t := p.next()
		switch {
		case t.kind == "punct" && t.s == ")":
			return nil
		case t.kind != "ident":
			return fmt.Errorf("label list: unexpected %q", t.s)
		}
		if t := p.peek(); t.kind == "punct" && t.s == "," {
			p.next()
		}
	}
}

// selector parses the optional {matchers} after a metric name (or a bare
// {matchers} with a __name__ matcher) and records the metric name.
func (p *promParser) selector(name string) error {
	if t := p.peek(); t.kind == "punct" && t.s == "{" {
		p.next()
		for {
			t := p.next()
			if t.kind == "punct" && t.s == "}" {
				break
			}
			if t.kind != "ident" {
				return fmt.Errorf("label matcher: want a label name, got %q", t.s)
			}
			op := p.next()
			if op.kind != "op" || (op.s != "=" && op.s != "!=" && op.s != "=~" && op.s != "!~") {
				return fmt.Errorf("label matcher %s: want =, !=, =~ or !~, got %q", t.s, op.s)
			}
			v := p.next()
			if v.kind != "str" {
				return fmt.Errorf("label matcher %s: want a quoted value, got %q", t.s, v.s)
			}
			if t.s == "__name__" && op.s == "=" {
				name = v.s
			}
			if c := p.peek(); c.kind == "punct" && c.s == "," {
				p.next()
			}
		}
	}
	if name == "" {
		return fmt.Errorf("selector without a metric name")
	}
	p.names = append(p.names, name)
	return nil
}
