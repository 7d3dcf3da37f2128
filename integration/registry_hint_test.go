package integration

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/sluicecdc/sluice/integration/harness"
)

// relaxCommand is the curl command in Sluice's fix hint for an
// incompatible schema.
var relaxCommand = regexp.MustCompile(`curl -X (POST|PUT) -H '([^']+)' --data '([^']+)' (\S+)`)

// TestRegistryIncompatibleHint: a column type change is refused by the
// registry (BACKWARD); Sluice stops with a fix hint, the test sends the
// hint's request exactly as printed, and a restarted Sluice delivers the
// row with the new type.
func TestRegistryIncompatibleHint(t *testing.T) {
	pg, k, r := sharedPostgres(t), sharedKafka(t), sharedRegistry(t)
	dsn, db := pgDB(t, pg)
	name := testName(t)
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	exec(t, db, `CREATE TABLE t (id int PRIMARY KEY, v int)`)
	cfg := harness.WriteConfig(t, pgConfig(name, dsn, k, r, ""))
	topic := name + ".public.t"
	rd := harness.NewReader(t, k.Brokers(), r.URL, topic)

	p := harness.Start(t, nil, "run", "-c", cfg)
	p.WaitFor(ctx, "msg=streaming", 2*time.Minute)
	exec(t, db, `INSERT INTO t VALUES (1, 1)`)
	rd.ReadUntil(ctx, t, time.Minute, func(e []harness.Event) bool { return len(e) >= 1 })
	exec(t, db, `ALTER TABLE t ALTER COLUMN v TYPE text`)
	exec(t, db, `INSERT INTO t VALUES (2, 'two')`)
	if code := p.Wait(2 * time.Minute); code != 1 {
		t.Fatalf("after an incompatible change: exit %d, want 1", code)
	}
	out := strings.ReplaceAll(p.Output(), `\"`, `"`) // logfmt quotes the error
	m := relaxCommand.FindStringSubmatch(out)
	if m == nil || !strings.Contains(out, `subject "`+topic+`-value" as incompatible`) {
		t.Fatalf("no fix command for %s-value in the output:\n%s", topic, out)
	}
	t.Logf("hint: %s", m[0])
	req, err := http.NewRequestWithContext(ctx, m[1], m[4], bytes.NewBufferString(m[3]))
	if err != nil {
		t.Fatal(err)
	}
	ct := strings.SplitN(m[2], ": ", 2)
	req.Header.Set(ct[0], ct[1])
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		t.Fatalf("%s %s: %s %s", m[1], m[4], resp.Status, body)
	}

	p = harness.Start(t, nil, "run", "-c", cfg)
	evs := rd.ReadUntil(ctx, t, 2*time.Minute, func(e []harness.Event) bool { return len(e) >= 1 })
	if a := evs[0].After(); evs[0].Op() != "c" || a["v"] != "two" {
		t.Fatalf("after the fix: %s %v, want c with v \"two\"", evs[0].Op(), a)
	}
	if code := p.Interrupt(30 * time.Second); code != 0 {
		t.Fatalf("exit code %d", code)
	}
}
