package emit

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
)

// TransactionTimeoutError reports a transaction timeout the brokers do not
// allow: longer than their transaction.max.timeout.ms. A restart cannot fix
// it; the configuration or the brokers must change.
type TransactionTimeoutError struct {
	// Timeout is the producer's transaction timeout
	// (kafka.transaction_timeout).
	Timeout time.Duration
	// BrokerMax is the smallest transaction.max.timeout.ms among the
	// brokers, and Broker the id of one broker with it. Zero and -1 when
	// the brokers' configuration could not be read and the broker refused
	// the timeout instead (Err is then kerr.InvalidTransactionTimeout).
	BrokerMax time.Duration
	Broker    int32
	Err       error
}

func (e *TransactionTimeoutError) Error() string {
	limit := "the brokers' transaction.max.timeout.ms"
	if e.BrokerMax > 0 {
		limit = fmt.Sprintf("transaction.max.timeout.ms of broker %d (%d = %s)", e.Broker, e.BrokerMax.Milliseconds(), e.BrokerMax)
	}
	msg := fmt.Sprintf("kafka: kafka.transaction_timeout %s is longer than %s; lower kafka.transaction_timeout, "+
		"or raise transaction.max.timeout.ms on every broker", e.Timeout, limit)
	if e.Err != nil {
		msg += ": " + e.Err.Error()
	}
	return msg
}

func (e *TransactionTimeoutError) Unwrap() error { return e.Err }

// maxTimeoutKey is the broker setting that caps transaction timeouts.
const maxTimeoutKey = "transaction.max.timeout.ms"

// CheckTransactionTimeout returns a *TransactionTimeoutError when the
// producer's transaction timeout is longer than the
// transaction.max.timeout.ms of any broker: the transaction coordinator can
// move to any of them, and the broker refuses the producer (InitProducerID
// answers INVALID_TRANSACTION_TIMEOUT) where the timeout is too long. It
// does not use the transactional id, so it fences no running instance.
//
// Reading the brokers' configuration needs DESCRIBE_CONFIGS on the
// cluster. When that is refused or fails, CheckTransactionTimeout logs it
// and returns nil: the broker's refusal at the first transaction is then
// reported as a *TransactionTimeoutError too, by Commit or by
// ClaimTransactionalID. An at-least-once producer has nothing to check.
func (p *Producer) CheckTransactionTimeout(ctx context.Context) error {
	if !p.txn {
		return nil
	}
	adm := kadm.NewClient(p.cl)
	meta, err := adm.BrokerMetadata(ctx)
	if err != nil {
		p.log.Info("kafka: cannot list the brokers to check transaction.max.timeout.ms; the brokers check the transaction timeout when the producer starts", "err", err)
		return nil
	}
	// A broker that does not answer leaves a shard error; the others'
	// answers are still used.
	configs, err := adm.DescribeBrokerConfigs(ctx, meta.Brokers.NodeIDs()...)
	var (
		limit  time.Duration
		broker int32 = -1
	)
	for _, rc := range configs {
		if rc.Err != nil {
			continue
		}
		for _, c := range rc.Configs {
			if c.Key != maxTimeoutKey || c.Value == nil {
				continue
			}
			ms, perr := strconv.ParseInt(*c.Value, 10, 64)
			if perr != nil || ms <= 0 {
				continue
			}
			id, perr := strconv.ParseInt(rc.Name, 10, 32)
			if perr != nil {
				id = -1
			}
			if d := time.Duration(ms) * time.Millisecond; limit == 0 || d < limit {
				limit, broker = d, int32(id)
			}
		}
	}
	if limit == 0 {
		p.log.Info("kafka: cannot read the brokers' transaction.max.timeout.ms (DESCRIBE_CONFIGS on the cluster is needed); the brokers check the transaction timeout when the producer starts", "err", err)
		return nil
	}
	if p.txnTimeout > limit {
		return &TransactionTimeoutError{Timeout: p.txnTimeout, BrokerMax: limit, Broker: broker}
	}
	return nil
}

// timeoutRefused reports the broker's refusal of the transaction timeout.
func (p *Producer) timeoutRefused(err error) error {
	return &TransactionTimeoutError{Timeout: p.txnTimeout, Broker: -1, Err: err}
}
