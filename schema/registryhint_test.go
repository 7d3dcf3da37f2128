package schema

import "testing"

func TestRelaxHint(t *testing.T) {
	for _, tc := range []struct {
		name, base string
		auth       bool
		want       string
	}{
		{"confluent", "https://registry:8081/", false,
			`curl -X PUT -H 'Content-Type: application/vnd.schemaregistry.v1+json' --data '{"compatibility":"NONE"}' https://registry:8081/config/app.public.t-value (Apicurio Registry: docs/operations.md)`},
		{"confluent with auth", "https://registry:8081", true,
			`curl -X PUT -u USER:PASSWORD -H 'Content-Type: application/vnd.schemaregistry.v1+json' --data '{"compatibility":"NONE"}' https://registry:8081/config/app.public.t-value (Apicurio Registry: docs/operations.md)`},
		{"apicurio", "http://apicurio:8080/apis/ccompat/v7", false,
			`curl -X POST -H 'Content-Type: application/json' --data '{"ruleType":"COMPATIBILITY","config":"NONE"}' http://apicurio:8080/apis/registry/v3/groups/default/artifacts/app.public.t-value/rules` +
				` (Apicurio Registry, whose /config/{subject} does not change the rule it applies; when the artifact already has a COMPATIBILITY rule, send the same body with PUT to http://apicurio:8080/apis/registry/v3/groups/default/artifacts/app.public.t-value/rules/COMPATIBILITY)`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := RelaxHint(tc.base, "app.public.t-value", tc.auth); got != tc.want {
				t.Errorf("got  %s\nwant %s", got, tc.want)
			}
		})
	}
}
