package pipeline

import (
	"context"
	"strconv"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluicecdc/sluice/capture"
	"github.com/sluicecdc/sluice/emit"
	"github.com/sluicecdc/sluice/schema"
)

// Transaction metadata (kafka.transaction_metadata), as Debezium's
// provide.transaction.metadata: every change event of a source
// transaction carries {id, total_order, data_collection_order}, and the
// topic <name>.transaction gets a BEGIN event before the transaction's
// first event and an END event with the counts after its last. They are
// produced like change events, so in exactly-once mode they commit in the
// same Kafka transactions as the events they describe. Transactions with
// no event (nothing captured, or only skipped operations) get none;
// snapshot reads carry no block, as in Debezium.

// TxnTopic is the transaction metadata topic of a connector.
func TxnTopic(name string) string { return name + ".transaction" }

type txnMeta struct {
	id     string
	tsMs   int64
	total  int64
	per    map[string]int64
	order  []string // tables in the order of their first event
	begun  bool     // the BEGIN event is out (or was, before a restart)
	block  *schema.TxnBlock
	keyID  int
	valID  int
	topics bool // the topic exists and the schemas are registered
}

// txnID is the id of a source transaction, from its first change, as
// Debezium's: the xid and the LSN of its first change on Postgres; the
// GTID, or the binlog position of its first change, on MySQL. It is the
// same on every replay of the transaction (and on a promoted replica
// where the source has global transaction ids), so it also names the
// transaction a checkpoint inside it covers [I7].
func txnID(s capture.SourceInfo) string {
	switch {
	case s.GTID != "":
		return s.GTID
	case s.File != "":
		return s.File + ":" + strconv.FormatInt(s.Pos, 10)
	default:
		return strconv.FormatInt(s.TxID, 10) + ":" + strconv.FormatInt(s.LSN, 10)
	}
}

// txnEvent counts a change of the current transaction and, when it is
// delivered, sets its block and produces the BEGIN event before it.
func (p *Pipeline) txnEvent(ctx context.Context, c *capture.Change, deliver bool) error {
	m := &p.meta
	if m.total == 0 {
		m.id, m.tsMs, m.begun = txnID(c.Source), c.Source.TsMs, false
		if m.per == nil {
			m.per = map[string]int64{}
		}
		clear(m.per)
		m.order = m.order[:0]
	}
	table := c.Table.ID.String()
	m.total++
	if m.per[table] == 0 {
		m.order = append(m.order, table)
	}
	m.per[table]++
	if !deliver {
		m.begun = true // delivered before the restart, with its BEGIN
		return nil
	}
	if !m.begun {
		if err := p.produceTxnMeta(ctx, schema.AppendTxnBegin(nil, m.id, m.tsMs)); err != nil {
			return err
		}
		m.begun = true
	}
	m.block = &schema.TxnBlock{ID: m.id, TotalOrder: m.total, CollectionOrder: m.per[table]}
	return nil
}

// txnEnd produces the END event of the transaction that ends, if it had
// events.
func (p *Pipeline) txnEnd(ctx context.Context) error {
	m := &p.meta
	if !p.o.TxnMetadata || m.total == 0 {
		return nil
	}
	per := make([]schema.CollectionCount, len(m.order))
	for i, t := range m.order {
		per[i] = schema.CollectionCount{Collection: t, Events: m.per[t]}
	}
	err := p.produceTxnMeta(ctx, schema.AppendTxnEnd(nil, m.id, m.total, per, m.tsMs))
	m.total = 0
	return err
}

func (p *Pipeline) produceTxnMeta(ctx context.Context, value []byte) error {
	m := &p.meta
	topic := TxnTopic(p.o.Name)
	if !m.topics {
		if err := p.topics.Ensure(ctx, emit.TopicSpec{Name: topic, Partitions: p.o.Partitions, ReplicationFactor: p.o.Replication}); err != nil {
			return err
		}
		var err error
		if m.keyID, err = p.reg.Register(ctx, topic+"-key", schema.TxnMetaKeySchema); err != nil {
			return err
		}
		if m.valID, err = p.reg.Register(ctx, topic+"-value", schema.TxnMetaValueSchema); err != nil {
			return err
		}
		m.topics = true
	}
	key := schema.AppendTxnMetaKey(schema.AppendWireHeader(nil, m.keyID), m.id)
	val := append(schema.AppendWireHeader(make([]byte, 0, 5+len(value)), m.valID), value...)
	if err := p.prod.Produce(ctx, &kgo.Record{Topic: topic, Key: key, Value: val}); err != nil {
		return err
	}
	if p.pending == 0 {
		p.batchStart = time.Now()
	}
	p.pending++
	return nil
}
