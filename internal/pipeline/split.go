package pipeline

import (
	"context"
	"fmt"
	"time"

	"github.com/sluicecdc/sluice/capture"
	"github.com/sluicecdc/sluice/checkpoint"
)

// A source transaction too long for one Kafka transaction is delivered in
// parts [I7]. The broker aborts a Kafka transaction that stays open longer
// than kafka.transaction_timeout, and a bulk UPDATE of tens of millions of
// rows can take longer than that to produce; without parts such a
// transaction could never be delivered in exactly-once mode.
//
// The place inside the transaction is counted in its stream changes, the
// only events that come again, in the same order, when the source replays
// the transaction from the boundary before it: a snapshot chunk handed
// over inside it (MySQL's watermark is a row) is not part of the replay,
// and its progress is in the same checkpoint as its rows.

// admit counts a stream change of the current source transaction and says
// whether to deliver it: after a restart inside the transaction, the
// changes the checkpoint covers are skipped [I7]. When the open Kafka
// transaction has been open for Options.SplitAfter, the part delivered so
// far is committed first.
func (p *Pipeline) admit(ctx context.Context, c *capture.Change) (bool, error) {
	if p.txnChanges == 0 {
		p.txnFirst = c.Source // named only when needed: no string per transaction
		if p.skip != nil && p.skip.ID != txnID(p.txnFirst) {
			return false, p.stop(p.replayError(fmt.Sprintf("the source sent transaction %s first", txnID(p.txnFirst))))
		}
	}
	if p.skip != nil {
		if p.txnChanges < p.skip.Events {
			p.txnChanges++
			return false, nil // delivered before the restart
		}
		p.log.Info("resumed inside a source transaction", "transaction", p.skip.ID, "skipped", p.skip.Events)
		p.skip = nil
	}
	if p.splitDue() {
		if err := p.split(ctx); err != nil {
			return false, err
		}
	}
	p.txnChanges++
	return true, nil
}

// splitDue reports whether the open Kafka transaction, holding part of the
// current source transaction, has been open for Options.SplitAfter.
func (p *Pipeline) splitDue() bool {
	return p.o.SplitAfter > 0 && p.prod.Transactional() && p.txnChanges > 0 && p.pending > 0 &&
		time.Since(p.batchStart) >= p.o.SplitAfter
}

// split commits the batch inside the current source transaction: the
// checkpoint stays at the boundary before it and names how many of its
// changes are delivered [I7]. A read_committed consumer sees the
// transaction in parts.
func (p *Pipeline) split(ctx context.Context) error {
	open := time.Since(p.batchStart)
	p.partial = &checkpoint.TxnProgress{ID: txnID(p.txnFirst), Events: p.txnChanges}
	p.dirty = true
	if err := p.Checkpoint(ctx); err != nil {
		return err
	}
	p.m.TxnSplits.Add(1)
	p.log.Info("committed part of a long source transaction", "transaction", p.partial.ID,
		"changes_delivered", p.txnChanges, "kafka_transaction_open", open.Round(time.Millisecond).String())
	return nil
}

// endTxn notes the end of a source transaction.
func (p *Pipeline) endTxn() error {
	if p.skip != nil {
		if p.txnChanges == 0 {
			// A transaction with no captured change before the one the
			// checkpoint is inside: that one is still ahead.
			return nil
		}
		return p.replayError(fmt.Sprintf("transaction %s ended after %d changes", txnID(p.txnFirst), p.txnChanges))
	}
	p.txnChanges, p.partial = 0, nil
	return nil
}

func (p *Pipeline) replayError(what string) error {
	return &capture.SetupError{
		What: "resuming inside a source transaction",
		Err: fmt.Errorf("the checkpoint says %d changes of transaction %s after %s were delivered, but %s",
			p.skip.Events, p.skip.ID, p.safe.String(), what),
		Fix: "Sluice will not resume past a gap; the source's log no longer holds what was delivered (a rewound or " +
			"replaced server): to start over with a new snapshot, use a new name (or delete this name's record from " + OffsetsTopic(p.o.Name) + ")",
	}
}
