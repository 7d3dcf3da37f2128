package integration

import (
	"testing"

	"github.com/sluicecdc/sluice/integration/harness"
)

// checkDebeziumTimes checks the ts_us and ts_ns that Debezium 3.x writes
// beside ts_ms, in the source block and in the envelope: the same instant
// in finer units.
func checkDebeziumTimes(t *testing.T, e harness.Event) {
	t.Helper()
	for where, m := range map[string]map[string]any{"source": e.Source(), "envelope": e.Value} {
		ms, us, ns := num(m["ts_ms"]), num(m["ts_us"]), num(m["ts_ns"])
		if ms <= 0 || us/1000 != ms || ns != us*1000 {
			t.Errorf("%s event %s: ts_ms %v ts_us %v ts_ns %v; want one instant in ms, µs and ns", e.Op(), where, m["ts_ms"], m["ts_us"], m["ts_ns"])
		}
	}
}
