package app

import (
	pgcapture "github.com/sluicecdc/sluice/capture/postgres"
)

// checkSlotFailover reports whether the slot survives a failover to a
// standby: from PostgreSQL 17 a slot with failover = true is synchronized
// to standbys that set sync_replication_slots (docs/operations.md,
// Failover). sluice run creates its slot so, and turns it on for an older
// slot.
func checkSlotFailover(r *CheckReport, si *pgcapture.ServerInfo, slot *pgcapture.SlotStatus, name string) {
	what := "postgres slot failover"
	switch {
	case si.Version < pgcapture.FailoverSlotsVersion:
		r.Pass(what, "PostgreSQL "+si.VersionString+" does not synchronize logical slots to standbys (PostgreSQL 17 does): after a failover Sluice starts over with a new snapshot")
	case slot == nil:
		r.Pass(what, "sluice run creates slot "+name+" with failover = true; standbys keep a copy when they set sync_replication_slots = on")
	case slot.Temporary:
		r.Pass(what, "slot "+name+" is temporary (snapshot.mode initial_only) and is not synchronized to standbys")
	case slot.Failover:
		r.Pass(what, "slot "+name+" has failover = true: standbys with sync_replication_slots = on, hot_standby_feedback = on and a primary_slot_name keep a copy; list those physical slots in synchronized_standby_slots on the primary")
	default:
		r.Warn(what, "slot "+name+" has failover = false: a promoted standby would not have it",
			"sluice run turns failover on at its next start (ALTER_REPLICATION_SLOT "+name+" (FAILOVER true))")
	}
}
