package devmode

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/sr"
	"github.com/twmb/franz-go/pkg/sr/srfake"

	"github.com/sluicecdc/sluice/schema"
)

// Record schemas of one table as Sluice's value schemas evolve.
const (
	vInt       = `{"type":"record","name":"Value","namespace":"db.public.t","fields":[{"name":"id","type":"int"},{"name":"a","type":["null","int"],"default":null}]}`
	vIntAdded  = `{"type":"record","name":"Value","namespace":"db.public.t","fields":[{"name":"id","type":"int"},{"name":"a","type":["null","int"],"default":null},{"name":"b","type":["null","string"],"default":null}]}`
	vIntNoDef  = `{"type":"record","name":"Value","namespace":"db.public.t","fields":[{"name":"id","type":"int"},{"name":"a","type":["null","int"],"default":null},{"name":"b","type":"string"}]}`
	vLong      = `{"type":"record","name":"Value","namespace":"db.public.t","fields":[{"name":"id","type":"int"},{"name":"a","type":["null","long"],"default":null}]}`
	vString    = `{"type":"record","name":"Value","namespace":"db.public.t","fields":[{"name":"id","type":"int"},{"name":"a","type":["null","string"],"default":null}]}`
	vDropped   = `{"type":"record","name":"Value","namespace":"db.public.t","fields":[{"name":"id","type":"int"}]}`
	vStrDef    = `{"type":"record","name":"Value","namespace":"db.public.t","fields":[{"name":"id","type":"int"},{"name":"a","type":"string","default":""}]}`
	vNotNull   = `{"type":"record","name":"Value","namespace":"db.public.t","fields":[{"name":"id","type":"int"},{"name":"a","type":"int"}]}`
	envelopeV1 = `{"type":"record","name":"Envelope","namespace":"db.public.t","fields":[{"name":"before","type":["null",{"type":"record","name":"Value","fields":[{"name":"id","type":"int"}]}],"default":null},{"name":"after","type":["null","Value"],"default":null}]}`
	envelopeV2 = `{"type":"record","name":"Envelope","namespace":"db.public.t","fields":[{"name":"before","type":["null",{"type":"record","name":"Value","fields":[{"name":"id","type":"long"}]}],"default":null},{"name":"after","type":["null","Value"],"default":null}]}`
	envelopeV3 = `{"type":"record","name":"Envelope","namespace":"db.public.t","fields":[{"name":"before","type":["null",{"type":"record","name":"Value","fields":[{"name":"id","type":"string"}]}],"default":null},{"name":"after","type":["null","Value"],"default":null}]}`
)

func TestAvroCanRead(t *testing.T) {
	for _, tc := range []struct {
		name           string
		reader, writer string
		want           bool
	}{
		{"same", vInt, vInt, true},
		{"added field with default", vIntAdded, vInt, true},
		{"added field without default", vIntNoDef, vInt, false},
		{"dropped field", vDropped, vInt, true},
		{"promotion int to long", vLong, vInt, true},
		{"no demotion long to int", vInt, vLong, false},
		{"type change int to string", vString, vInt, false},
		{"nullable reads not null", vInt, vNotNull, true},
		{"not null cannot read nullable", vNotNull, vInt, false},
		{"named reference inside envelope", envelopeV2, envelopeV1, true},
		{"named reference type change", envelopeV3, envelopeV1, false},
		{"string reads bytes", `"string"`, `"bytes"`, true},
		{"enum symbol added", `{"type":"enum","name":"E","symbols":["a","b"]}`, `{"type":"enum","name":"E","symbols":["a"]}`, true},
		{"enum symbol removed", `{"type":"enum","name":"E","symbols":["a"]}`, `{"type":"enum","name":"E","symbols":["a","b"]}`, false},
		{"enum symbol removed, reader default", `{"type":"enum","name":"E","symbols":["a"],"default":"a"}`, `{"type":"enum","name":"E","symbols":["a","b"]}`, true},
		{"array items", `{"type":"array","items":"long"}`, `{"type":"array","items":"int"}`, true},
		{"map values", `{"type":"map","values":"int"}`, `{"type":"map","values":"string"}`, false},
		{"fixed size", `{"type":"fixed","name":"F","size":4}`, `{"type":"fixed","name":"F","size":8}`, false},
		{"record renamed", `{"type":"record","name":"A","fields":[]}`, `{"type":"record","name":"B","fields":[]}`, false},
		{"field alias", `{"type":"record","name":"A","fields":[{"name":"x","aliases":["y"],"type":"int"}]}`, `{"type":"record","name":"A","fields":[{"name":"y","type":"int"}]}`, true},
		{"logical type ignored", `{"type":"int","logicalType":"date"}`, `"int"`, true},
		{"recursive", `{"type":"record","name":"L","fields":[{"name":"next","type":["null","L"],"default":null}]}`, `{"type":"record","name":"L","fields":[{"name":"next","type":["null","L"],"default":null}]}`, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, err := parseAvro(tc.reader)
			if err != nil {
				t.Fatal(err)
			}
			w, err := parseAvro(tc.writer)
			if err != nil {
				t.Fatal(err)
			}
			if got, where := avroCanRead(r, w); got != tc.want {
				t.Errorf("avroCanRead = %v (%s), want %v", got, where, tc.want)
			}
		})
	}
}

// TestEmbeddedRegistryCompatibility: the embedded registry refuses what a
// real one refuses at each level, set globally or per subject through
// PUT /config and PUT /config/{subject}.
func TestEmbeddedRegistryCompatibility(t *testing.T) {
	type step struct {
		schema string
		ok     bool
	}
	for _, tc := range []struct {
		level sr.CompatibilityLevel // 0: the default
		steps []step
	}{
		{0, []step{{vInt, true}, {vIntAdded, true}, {vString, false}, {vLong, true}, {vIntNoDef, false}, {vInt, true}}},
		{sr.CompatNone, []step{{vInt, true}, {vString, true}, {vNotNull, true}}},
		{sr.CompatBackward, []step{{vInt, true}, {vDropped, true}, {vIntNoDef, false}}},
		// vStrDef reads vDropped (a takes its default) but not vNotNull.
		{sr.CompatBackward, []step{{vNotNull, true}, {vDropped, true}, {vStrDef, true}}},
		{sr.CompatBackwardTransitive, []step{{vNotNull, true}, {vDropped, true}, {vStrDef, false}}},
		{sr.CompatForward, []step{{vInt, true}, {vLong, false}, {vIntNoDef, true}, {vString, false}}},
		{sr.CompatForward, []step{{vStrDef, true}, {vDropped, true}, {vNotNull, true}}},
		{sr.CompatForwardTransitive, []step{{vStrDef, true}, {vDropped, true}, {vNotNull, false}}},
		{sr.CompatFull, []step{{vInt, true}, {vIntAdded, true}, {vLong, false}, {vDropped, true}, {vIntNoDef, false}}},
		{sr.CompatFull, []step{{vStrDef, true}, {vDropped, true}, {vIntAdded, true}}},
		{sr.CompatFullTransitive, []step{{vStrDef, true}, {vDropped, true}, {vIntAdded, false}}},
	} {
		name := "default"
		if tc.level != 0 {
			name = tc.level.String()
		}
		for _, scope := range []string{"global", "subject"} {
			t.Run(name+"/"+scope+"/"+fmt.Sprint(len(tc.steps)), func(t *testing.T) {
				srv := httptest.NewServer(&compatHandler{next: srfake.NewRegistry().Handler()})
				defer srv.Close()
				cl, err := sr.NewClient(sr.URLs(srv.URL))
				if err != nil {
					t.Fatal(err)
				}
				ctx := context.Background()
				const subject = "db.public.t-value"
				if tc.level != 0 {
					var subjects []string
					if scope == "subject" {
						subjects = []string{subject}
					}
					for _, res := range cl.SetCompatibility(ctx, sr.SetCompatibility{Level: tc.level}, subjects...) {
						if res.Err != nil {
							t.Fatal(res.Err)
						}
					}
				}
				for i, s := range tc.steps {
					_, err := cl.CreateSchema(ctx, subject, sr.Schema{Schema: s.schema})
					var re *sr.ResponseError
					switch {
					case s.ok && err != nil:
						t.Fatalf("step %d: refused: %v", i, err)
					case !s.ok && err == nil:
						t.Fatalf("step %d: accepted, want 409", i)
					case !s.ok && (!errors.As(err, &re) || re.StatusCode != http.StatusConflict || re.ErrorCode != 409):
						t.Fatalf("step %d: %v, want 409 error_code 409", i, err)
					case !s.ok && !strings.Contains(re.Message, "incompatible"):
						t.Errorf("step %d: message %q", i, re.Message)
					}
				}
			})
		}
	}
}

// TestEmbeddedRegistryRelaxSubject: the fix Sluice prints for an
// incompatible schema (schema.RelaxHint), NONE on the subject, lets it
// register.
func TestEmbeddedRegistryRelaxSubject(t *testing.T) {
	srv := httptest.NewServer(&compatHandler{next: srfake.NewRegistry().Handler()})
	defer srv.Close()
	cl, _ := sr.NewClient(sr.URLs(srv.URL))
	ctx := context.Background()
	const subject = "db.public.t-value"
	if _, err := cl.CreateSchema(ctx, subject, sr.Schema{Schema: vInt}); err != nil {
		t.Fatal(err)
	}
	if _, err := cl.CreateSchema(ctx, subject, sr.Schema{Schema: vString}); err == nil {
		t.Fatal("type change accepted under BACKWARD")
	}
	if ok, err := cl.CheckCompatibility(ctx, subject, -1, sr.Schema{Schema: vString}); err != nil || ok.Is {
		t.Fatalf("compatibility check: %v %v, want incompatible", ok, err)
	}
	// The request the hint prints, as printed.
	m := regexp.MustCompile(`curl -X (PUT) -H '([^:]+): ([^']+)' --data '([^']+)' (\S+)`).FindStringSubmatch(schema.RelaxHint(srv.URL, subject, false))
	if m == nil {
		t.Fatalf("hint %q has no curl command", schema.RelaxHint(srv.URL, subject, false))
	}
	req, _ := http.NewRequest(m[1], m[5], strings.NewReader(m[4]))
	req.Header.Set(m[2], m[3])
	resp, err := http.DefaultClient.Do(req)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("the hint's request: %v %v", resp, err)
	}
	resp.Body.Close()
	if _, err := cl.CreateSchema(ctx, subject, sr.Schema{Schema: vString}); err != nil {
		t.Fatalf("after NONE on the subject: %v", err)
	}
	// Other subjects keep the global BACKWARD.
	if _, err := cl.CreateSchema(ctx, "other-value", sr.Schema{Schema: vInt}); err != nil {
		t.Fatal(err)
	}
	if _, err := cl.CreateSchema(ctx, "other-value", sr.Schema{Schema: vString}); err == nil {
		t.Fatal("another subject lost BACKWARD")
	}
}

func FuzzParseAvro(f *testing.F) {
	for _, s := range []string{vInt, envelopeV1, `["null","int"]`, `{"type":"enum","name":"E","symbols":["a"]}`, `"L"`} {
		f.Add(s, vInt)
	}
	f.Fuzz(func(t *testing.T, a, b string) {
		r, err := parseAvro(a)
		if err != nil {
			return
		}
		w, err := parseAvro(b)
		if err != nil {
			return
		}
		avroCanRead(r, w)
		avroCanRead(w, r)
	})
}
