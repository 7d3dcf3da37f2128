package integration

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/sluicecdc/sluice/integration/harness"
)

// checkTxnMetadata checks kafka.transaction_metadata over what a
// read_committed consumer saw after a kill loop in exactly-once mode:
// every source transaction with events has one BEGIN and one END on
// <name>.transaction, the END's counts equal its events, and its events'
// total_order and data_collection_order run from 1 without gap or repeat.
// It returns the number of transactions checked.
func checkTxnMetadata(t *testing.T, brokers []string, reg, name string, evs []harness.Event) int {
	t.Helper()
	type txn struct {
		begins, ends int
		endCount     int64
		endPer       map[string]int64
		orders       map[int64]int
		perOrders    map[string]map[int64]int
	}
	txns := map[string]*txn{}
	get := func(id string) *txn {
		if txns[id] == nil {
			txns[id] = &txn{endPer: map[string]int64{}, orders: map[int64]int{}, perOrders: map[string]map[int64]int{}}
		}
		return txns[id]
	}
	bad := 0
	report := func(format string, a ...any) {
		if bad < 10 {
			t.Errorf(format, a...)
		}
		bad++
	}
	for i := range evs {
		e := &evs[i]
		if e.Value == nil || e.Op() == "r" {
			continue
		}
		blk, _ := e.Value["transaction"].(map[string]any)
		if blk == nil {
			report("%s event without a transaction block: %v", e.Topic, e.Value)
			continue
		}
		src := e.Source()
		table := fmt.Sprint(src["db"], ".", src["table"])
		if s, ok := src["schema"]; ok && s != nil {
			table = fmt.Sprint(s, ".", src["table"])
		}
		x := get(fmt.Sprint(blk["id"]))
		x.orders[harness.Int(blk, "total_order")]++
		if x.perOrders[table] == nil {
			x.perOrders[table] = map[int64]int{}
		}
		x.perOrders[table][harness.Int(blk, "data_collection_order")]++
	}
	meta := harness.NewReader(t, brokers, reg, name+".transaction").Quiet(context.Background(), t, 3*time.Second)
	for _, m := range meta {
		x := get(fmt.Sprint(m.Value["id"]))
		switch m.Value["status"] {
		case "BEGIN":
			x.begins++
		case "END":
			x.ends++
			x.endCount = harness.Int(m.Value, "event_count")
			cols, _ := m.Value["data_collections"].([]any)
			for _, c := range cols {
				cm, _ := c.(map[string]any)
				x.endPer[fmt.Sprint(cm["data_collection"])] = harness.Int(cm, "event_count")
			}
		}
	}
	runs := func(orders map[int64]int, n int64) bool {
		if int64(len(orders)) != n {
			return false
		}
		for i := int64(1); i <= n; i++ {
			if orders[i] != 1 {
				return false
			}
		}
		return true
	}
	for id, x := range txns {
		if x.begins != 1 || x.ends != 1 {
			report("transaction %s: %d BEGIN and %d END events, want one each", id, x.begins, x.ends)
			continue
		}
		if !runs(x.orders, x.endCount) {
			report("transaction %s: END counts %d events, total_order of its events %v", id, x.endCount, x.orders)
		}
		for table, per := range x.perOrders {
			if !runs(per, x.endPer[table]) {
				report("transaction %s: END counts %d events of %s, data_collection_order %v", id, x.endPer[table], table, per)
			}
		}
		if len(x.perOrders) != len(x.endPer) {
			report("transaction %s: END names tables %v, events are of %d tables", id, x.endPer, len(x.perOrders))
		}
	}
	t.Logf("figures: transaction_metadata transactions=%d metadata_events=%d mismatches=%d", len(txns), len(meta), bad)
	if len(txns) == 0 {
		t.Error("no transaction metadata")
	}
	return len(txns)
}
