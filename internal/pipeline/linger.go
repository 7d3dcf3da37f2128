package pipeline

import (
	"time"

	"github.com/sluicecdc/sluice/schema"
)

// The commit policy of exactly-once mode while the source is caught up.
//
// In exactly-once mode an event is invisible to read_committed consumers
// until its Kafka transaction commits, so the commit policy is the
// latency a consumer sees. A commit stops the source's goroutine for one
// produce round trip and one EndTxn (a few ms), which costs throughput
// only while the pipeline is the bottleneck: draining a backlog. So:
//
//   - Behind the source (draining), batches are committed every
//     checkpoint.interval or checkpoint.max_events, as in at-least-once
//     mode: few commits, no throughput lost to them.
//   - Caught up, a batch is committed at the first transaction boundary
//     once its oldest event has waited Options.Linger (group commit: the
//     changes that arrive while one commit runs form the next batch). The
//     pipeline has spare time then, so the commits cost the source
//     nothing but their own CPU.
//
// Caught up means the newest event's source commit time is at most
// checkpoint.interval before now (by this host's clock, allowing for the
// source's timestamp resolution): further behind, committing sooner than
// the interval would hide less latency than the lag already adds. A
// pipeline that falls behind because of the extra commits goes back to the
// interval policy until it has caught up, so the latency it gives is never
// worse than the interval policy's. A source clock ahead of this host's
// counts as caught up (more commits, the same guarantees); one behind by
// more than the interval turns the linger off.

// tsResolution is how much later than its timestamp a source commit may
// have happened: MySQL and MariaDB binlog event timestamps have whole
// seconds, pgoutput's commit time microseconds.
func tsResolution(k schema.SourceKind) time.Duration {
	if k == schema.MySQL {
		return time.Second
	}
	return time.Millisecond
}

// lingered reports whether, at a transaction boundary at now, the open
// batch has waited Options.Linger while the source is caught up, so that
// it is committed before checkpoint.interval.
func (p *Pipeline) lingered(now time.Time) bool {
	if p.pending == 0 || !p.prod.Transactional() {
		return false
	}
	return lingerDue(now, p.batchStart, p.m.LastSourceTsMs.Load(), p.o.Linger, p.o.CommitInterval, tsResolution(p.o.Kind))
}

// lingerDue is the rule of lingered: a batch begun at batchStart whose
// newest event committed at the source at newestMs (ms since the epoch,
// with resolution res; 0: not known) is due at now.
func lingerDue(now, batchStart time.Time, newestMs int64, linger, interval, res time.Duration) bool {
	if linger >= interval || now.Sub(batchStart) < linger || newestMs <= 0 {
		return false
	}
	behind := now.Sub(time.UnixMilli(newestMs)) - res
	return behind <= interval
}
