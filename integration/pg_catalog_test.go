package integration

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/sluicecdc/sluice/integration/harness"
)

// These tests guard the contract's "rows are always decoded with the
// table schema in force at their source position, never with today's
// live schema" against the Postgres catalog changes pgoutput does not
// describe fully: an enum label added with ALTER TYPE ... ADD VALUE (no
// relation message at all) and a primary-key change (a relation message
// whose key flags move), each while Sluice streams and while it catches
// up after a stop.

// TestPostgresEnumLabelAdded: a row using a label added while Sluice
// streams is delivered with a schema that lists the label, instead of
// stopping the pipeline as "cannot be represented"; so is one added while
// Sluice is stopped.
func TestPostgresEnumLabelAdded(t *testing.T) {
	pg, k, r := sharedPostgres(t), sharedKafka(t), sharedRegistry(t)
	dsn, db := pgDB(t, pg)
	name := testName(t)
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	exec(t, db, `CREATE TYPE mood AS ENUM ('sad', 'ok')`)
	exec(t, db, `CREATE TABLE moods (id int PRIMARY KEY, m mood, ms mood[])`)
	// An enum array has no unchanged-TOAST placeholder: run refuses the
	// table unless its updates carry every value.
	exec(t, db, `ALTER TABLE moods REPLICA IDENTITY FULL`)
	cfg := harness.WriteConfig(t, pgConfig(name, dsn, k, r, ""))
	topic := name + ".public.moods"
	rd := harness.NewReader(t, k.Brokers(), r.URL, topic)

	// Streaming.
	p := harness.Start(t, nil, "run", "-c", cfg)
	p.WaitFor(ctx, "msg=streaming", time.Minute)
	exec(t, db, `INSERT INTO moods VALUES (1, 'ok', '{sad}')`)
	rd.ReadUntil(ctx, t, time.Minute, func(e []harness.Event) bool { return len(e) >= 1 })
	exec(t, db, `ALTER TYPE mood ADD VALUE 'happy'`)
	exec(t, db, `INSERT INTO moods VALUES (2, 'happy', '{ok,happy}')`)
	exec(t, db, `UPDATE moods SET m = 'happy' WHERE id = 1`)
	evs := rd.ReadUntil(ctx, t, time.Minute, func(e []harness.Event) bool { return len(e) >= 2 })
	if got := moods(evs); got != "c 2 happy [ok happy]|u 1 happy [sad]" {
		t.Fatalf("after ADD VALUE while streaming: %s", got)
	}
	if allowed := enumAllowed(t, r.URL, topic+"-value"); allowed != "sad,ok,happy" {
		t.Errorf("latest value schema allows %q, want sad,ok,happy", allowed)
	}
	if code := p.Interrupt(30 * time.Second); code != 0 {
		t.Fatalf("graceful stop exit code %d", code)
	}

	// Catching up: the label was added, and used, while Sluice was stopped.
	exec(t, db, `ALTER TYPE mood ADD VALUE 'angry' BEFORE 'sad'`)
	exec(t, db, `INSERT INTO moods VALUES (3, 'angry', '{angry,happy}')`)
	p2 := harness.Start(t, nil, "run", "-c", cfg)
	p2.WaitFor(ctx, "msg=streaming", time.Minute)
	evs = rd.ReadUntil(ctx, t, time.Minute, func(e []harness.Event) bool { return len(e) >= 1 })
	if got := moods(evs); got != "c 3 angry [angry happy]" {
		t.Fatalf("after ADD VALUE while stopped: %s", got)
	}
	if allowed := enumAllowed(t, r.URL, topic+"-value"); allowed != "angry,sad,ok,happy" {
		t.Errorf("latest value schema allows %q, want angry,sad,ok,happy", allowed)
	}
	if code := p2.Interrupt(30 * time.Second); code != 0 {
		t.Fatalf("graceful stop exit code %d", code)
	}
}

// moods renders events of the moods table as "op id m ms|...".
func moods(evs []harness.Event) string {
	var out []string
	for _, e := range evs {
		a := e.After()
		out = append(out, fmt.Sprintf("%s %d %v %v", e.Op(), num(a["id"]), a["m"], a["ms"]))
	}
	return strings.Join(out, "|")
}

// enumAllowed returns the allowed labels of the first enum field in the
// latest schema of subject.
func enumAllowed(t *testing.T, registryURL, subject string) string {
	t.Helper()
	resp, err := http.Get(registryURL + "/subjects/" + url.PathEscape(subject) + "/versions/latest/schema")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET latest schema of %s: %s: %s", subject, resp.Status, b)
	}
	// The labels are a connect.parameters entry: "allowed":"a,b,c".
	_, rest, ok := strings.Cut(string(b), `"allowed":"`)
	if !ok {
		t.Fatalf("schema of %s has no enum: %s", subject, b)
	}
	allowed, _, _ := strings.Cut(rest, `"`)
	return allowed
}

// TestPostgresPrimaryKeyChange: rows are keyed with the primary key in
// force at their position. While streaming, rows after the change get the
// new key. While catching up, rows written before the change keep the old
// key although the catalog already has the new one; a delete's before
// image then holds only the old key's column.
func TestPostgresPrimaryKeyChange(t *testing.T) {
	pg, k, r := sharedPostgres(t), sharedKafka(t), sharedRegistry(t)
	dsn, db := pgDB(t, pg)
	name := testName(t)
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	exec(t, db, `CREATE TABLE items (id int PRIMARY KEY, code text NOT NULL, note text)`)
	cfg := harness.WriteConfig(t, pgConfig(name, dsn, k, r, ""))
	topic := name + ".public.items"
	rd := harness.NewReader(t, k.Brokers(), r.URL, topic)

	// Streaming.
	p := harness.Start(t, nil, "run", "-c", cfg)
	p.WaitFor(ctx, "msg=streaming", time.Minute)
	exec(t, db, `INSERT INTO items VALUES (1, 'a', 'x')`)
	evs := rd.ReadUntil(ctx, t, time.Minute, func(e []harness.Event) bool { return len(e) >= 1 })
	// A new key makes key and value schemas that BACKWARD compatibility
	// rejects (docs/operations.md); the consumers here accept them.
	for _, s := range []string{topic + "-key", topic + "-value"} {
		setCompatibilityNone(t, r.URL, s)
	}
	exec(t, db, `UPDATE items SET note = 'y' WHERE id = 1`)
	exec(t, db, `ALTER TABLE items DROP CONSTRAINT items_pkey, ADD PRIMARY KEY (code)`)
	exec(t, db, `INSERT INTO items VALUES (2, 'b', 'x')`)
	exec(t, db, `UPDATE items SET note = 'z' WHERE id = 1`)
	evs = append(evs, rd.ReadUntil(ctx, t, time.Minute, func(e []harness.Event) bool { return len(e) >= 3 })...)
	want := `c {"id":1}|u {"id":1}|c {"code":"b"}|u {"code":"a"}`
	if got := keyed(evs); got != want {
		t.Fatalf("primary-key change while streaming:\n got %s\nwant %s", got, want)
	}
	if code := p.Interrupt(30 * time.Second); code != 0 {
		t.Fatalf("graceful stop exit code %d", code)
	}

	// Catching up: the key changes back while Sluice is stopped.
	exec(t, db, `INSERT INTO items VALUES (3, 'c', 'x')`)
	exec(t, db, `DELETE FROM items WHERE id = 2`)
	exec(t, db, `ALTER TABLE items DROP CONSTRAINT items_pkey, ADD PRIMARY KEY (id)`)
	exec(t, db, `INSERT INTO items VALUES (4, 'd', 'x')`)
	exec(t, db, `UPDATE items SET note = 'w' WHERE id = 3`)
	p2 := harness.Start(t, nil, "run", "-c", cfg)
	p2.WaitFor(ctx, "msg=streaming", time.Minute)
	evs = rd.ReadUntil(ctx, t, time.Minute, func(e []harness.Event) bool { return len(e) >= 5 })
	want = `c {"code":"c"}|d {"code":"b"}|~ {"code":"b"}|c {"id":4}|u {"id":3}`
	if got := keyed(evs); got != want {
		t.Fatalf("primary-key change while stopped:\n got %s\nwant %s", got, want)
	}
	if b := evs[1].Before(); b["code"] != "b" || b["id"] != nil {
		t.Errorf("delete's before image %v, want only the old key column code=b", b)
	}
	if code := p2.Interrupt(30 * time.Second); code != 0 {
		t.Fatalf("graceful stop exit code %d", code)
	}
}

// keyed renders events as "op key|..." ("~" for a tombstone).
func keyed(evs []harness.Event) string {
	var out []string
	for _, e := range evs {
		op := e.Op()
		if e.Value == nil {
			op = "~"
		}
		out = append(out, op+" "+harness.KeyString(e.Key))
	}
	return strings.Join(out, "|")
}

// setCompatibilityNone turns off the registry's compatibility check for
// one subject. Through the Confluent API, PUT /config/<subject> NONE only
// deletes Apicurio's rule for the subject, which then falls back to the
// global BACKWARD; so the rule is set to NONE through Apicurio's own API.
func setCompatibilityNone(t *testing.T, registryURL, subject string) {
	t.Helper()
	base, ok := strings.CutSuffix(registryURL, "/apis/ccompat/v7")
	if !ok {
		t.Fatalf("registry URL %s is not Apicurio's Confluent API", registryURL)
	}
	rules := base + "/apis/registry/v3/groups/default/artifacts/" + url.PathEscape(subject) + "/rules"
	req, err := http.NewRequest(http.MethodPost, rules, strings.NewReader(`{"ruleType":"COMPATIBILITY","config":"NONE"}`))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("POST %s: %s: %s", rules, resp.Status, b)
	}
}
