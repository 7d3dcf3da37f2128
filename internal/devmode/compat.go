package devmode

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"

	"github.com/twmb/franz-go/pkg/sr"
)

// compatHandler enforces compatibility levels in front of srfake, which
// stores them (GET/PUT /config, /config/{subject}) but accepts any schema.
// A development registry that took what a real one refuses would hide,
// until production, the stop a column type change causes there.
//
// Before POST /subjects/{subject}/versions passes to srfake, the subject's
// level (its own, else the global one; BACKWARD unless changed, as
// Confluent's) is applied to the new Avro schema against the latest
// version, or every version for the *_TRANSITIVE levels. A schema already
// registered under the subject returns its id without a check, as in
// Confluent's registry. An incompatible one gets Confluent's answer: 409
// with error_code 409. POST /compatibility/subjects/{subject}/versions[/v]
// answers from the same check. Non-Avro schemas pass unchecked.
type compatHandler struct {
	next http.Handler
	mu   sync.Mutex // one registration at a time: check and register as one step
}

func (h *compatHandler) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	path := req.URL.Path
	switch {
	case req.Method == http.MethodPost && strings.HasPrefix(path, "/subjects/") && strings.HasSuffix(path, "/versions"):
		h.register(w, req, strings.TrimSuffix(strings.TrimPrefix(path, "/subjects/"), "/versions"))
	case req.Method == http.MethodPost && strings.HasPrefix(path, "/compatibility/subjects/"):
		h.compatibility(w, req, strings.TrimPrefix(path, "/compatibility/subjects/"))
	default:
		h.next.ServeHTTP(w, req)
	}
}

// local sends a request to srfake and decodes a 200 answer into out.
func (h *compatHandler) local(method, path string, body []byte, out any) (int, error) {
	rec := httptest.NewRecorder()
	req := httptest.NewRequest(method, path, bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/vnd.schemaregistry.v1+json")
	h.next.ServeHTTP(rec, req)
	if rec.Code != http.StatusOK || out == nil {
		return rec.Code, nil
	}
	return rec.Code, json.Unmarshal(rec.Body.Bytes(), out)
}

func (h *compatHandler) register(w http.ResponseWriter, req *http.Request, subject string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	body, err := io.ReadAll(io.LimitReader(req.Body, 1<<20))
	if err != nil {
		writeRegistryError(w, http.StatusBadRequest, 400, err.Error())
		return
	}
	req.Body = io.NopCloser(bytes.NewReader(body))
	var s sr.Schema
	if json.Unmarshal(body, &s) == nil && s.Type == sr.TypeAvro {
		// Already registered under this subject: its id, unchecked.
		if code, _ := h.local(http.MethodPost, "/subjects/"+url.PathEscape(subject), body, nil); code != http.StatusOK {
			if msg, bad := h.check(subject, "", s.Schema); bad {
				writeRegistryError(w, http.StatusConflict, 409, msg)
				return
			}
		}
	}
	h.next.ServeHTTP(w, req)
}

func (h *compatHandler) compatibility(w http.ResponseWriter, req *http.Request, rest string) {
	subject, version, ok := strings.Cut(rest, "/versions")
	if !ok {
		h.next.ServeHTTP(w, req)
		return
	}
	version = strings.TrimPrefix(version, "/")
	var s sr.Schema
	if err := json.NewDecoder(io.LimitReader(req.Body, 1<<20)).Decode(&s); err != nil || s.Type != sr.TypeAvro {
		writeRegistryError(w, http.StatusUnprocessableEntity, 42201, "invalid schema")
		return
	}
	msg, bad := h.check(subject, version, s.Schema)
	resp := map[string]any{"is_compatible": !bad}
	if bad {
		resp["messages"] = []string{msg}
	}
	w.Header().Set("Content-Type", "application/vnd.schemaregistry.v1+json")
	_ = json.NewEncoder(w).Encode(resp)
}

// check applies subject's level to schema; version, when not empty, names
// the one version to check against (the compatibility endpoint's form).
// It returns the reason when the schema is incompatible.
func (h *compatHandler) check(subject, version, schema string) (string, bool) {
	var cfg struct {
		Level sr.CompatibilityLevel `json:"compatibilityLevel"`
	}
	if _, err := h.local(http.MethodGet, "/config/"+url.PathEscape(subject), nil, &cfg); err != nil {
		return "", false
	}
	var versions []int
	if code, err := h.local(http.MethodGet, "/subjects/"+url.PathEscape(subject)+"/versions", nil, &versions); code != http.StatusOK || err != nil || len(versions) == 0 {
		return "", false // a new subject: nothing to be compatible with
	}
	backward, forward, transitive := false, false, false
	switch cfg.Level {
	case sr.CompatBackward:
		backward = true
	case sr.CompatBackwardTransitive:
		backward, transitive = true, true
	case sr.CompatForward:
		forward = true
	case sr.CompatForwardTransitive:
		forward, transitive = true, true
	case sr.CompatFull:
		backward, forward = true, true
	case sr.CompatFullTransitive:
		backward, forward, transitive = true, true, true
	default: // NONE
		return "", false
	}
	against := versions[len(versions)-1:]
	switch {
	case version != "" && version != "latest":
		var v int
		if _, err := fmt.Sscan(version, &v); err != nil {
			return "", false
		}
		against = []int{v}
	case transitive && version == "":
		against = versions
	}
	next, err := parseAvro(schema)
	if err != nil {
		return fmt.Sprintf("Schema being registered is invalid: %v", err), true
	}
	for _, v := range against {
		var prev sr.SubjectSchema
		if code, err := h.local(http.MethodGet, fmt.Sprintf("/subjects/%s/versions/%d", url.PathEscape(subject), v), nil, &prev); code != http.StatusOK || err != nil {
			continue
		}
		old, err := parseAvro(prev.Schema.Schema)
		if err != nil {
			continue
		}
		if backward {
			if ok, where := avroCanRead(next, old); !ok {
				return incompatible(subject, cfg.Level, v, "the new schema cannot read data written with version", where), true
			}
		}
		if forward {
			if ok, where := avroCanRead(old, next); !ok {
				return incompatible(subject, cfg.Level, v, "data written with the new schema cannot be read with version", where), true
			}
		}
	}
	return "", false
}

func incompatible(subject string, level sr.CompatibilityLevel, v int, what, where string) string {
	return fmt.Sprintf("Schema being registered is incompatible with an earlier schema for subject %q (compatibility %s): %s %d: %s",
		subject, level, what, v, where)
}

func writeRegistryError(w http.ResponseWriter, status, code int, msg string) {
	w.Header().Set("Content-Type", "application/vnd.schemaregistry.v1+json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]any{"error_code": code, "message": msg})
}
