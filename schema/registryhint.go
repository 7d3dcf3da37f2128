package schema

import (
	"net/url"
	"strings"
)

// RelaxHint returns the command that sets subject's compatibility to NONE
// on the registry at base (schema_registry.url), in the form that registry
// obeys. Confluent's registry (and Karapace, and the embedded development
// registry) take PUT /config/{subject}. Apicurio Registry, recognised by
// its Confluent-compatible API's path /apis/ccompat/, answers that request
// but keeps applying its own rules (3.0 echoes NONE and changes nothing);
// there the subject is an artifact of the group "default" and takes an
// artifact COMPATIBILITY rule through Apicurio's own API. auth adds curl's
// -u with placeholders, never the configured secret.
func RelaxHint(base, subject string, auth bool) string {
	base = strings.TrimRight(base, "/")
	cred := ""
	if auth {
		cred = "-u USER:PASSWORD "
	}
	if i := strings.Index(base, "/apis/ccompat/"); i >= 0 {
		rules := base[:i] + "/apis/registry/v3/groups/default/artifacts/" + url.PathEscape(subject) + "/rules"
		return "curl -X POST " + cred + `-H 'Content-Type: application/json' --data '{"ruleType":"COMPATIBILITY","config":"NONE"}' ` + rules +
			" (Apicurio Registry, whose /config/{subject} does not change the rule it applies; when the artifact already has a COMPATIBILITY rule, " +
			"send the same body with PUT to " + rules + "/COMPATIBILITY)"
	}
	return "curl -X PUT " + cred + `-H 'Content-Type: application/vnd.schemaregistry.v1+json' --data '{"compatibility":"NONE"}' ` +
		base + "/config/" + url.PathEscape(subject) + " (Apicurio Registry: docs/operations.md)"
}
