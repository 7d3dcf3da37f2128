package emit

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// TestTransactionTimeoutRequested: the producer asks the brokers for the
// configured transaction timeout, and for DefaultTransactionTimeout when
// none is configured.
func TestTransactionTimeoutRequested(t *testing.T) {
	tests := []struct {
		name       string
		configured time.Duration
		want       int32 // milliseconds in InitProducerID
	}{
		{"default", 0, 60000},
		{"configured", 90 * time.Second, 90000},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newCluster(t)
			var got atomic.Int32
			c.ControlKey(int16(kmsg.InitProducerID), func(kreq kmsg.Request) (kmsg.Response, error, bool) {
				got.Store(kreq.(*kmsg.InitProducerIDRequest).TransactionTimeoutMillis)
				return nil, nil, false // observe only
			})
			p := newProducer(t, c, true, Options{TransactionTimeout: tt.configured})
			if err := p.ClaimTransactionalID(context.Background()); err != nil {
				t.Fatal(err)
			}
			if got.Load() != tt.want {
				t.Errorf("InitProducerID asked for %dms; want %dms", got.Load(), tt.want)
			}
		})
	}
}

// TestCheckTransactionTimeout: a transaction timeout longer than the
// brokers' transaction.max.timeout.ms is reported at start, with both
// values; one within it, or an at-least-once producer, passes.
func TestCheckTransactionTimeout(t *testing.T) {
	tests := []struct {
		name    string
		txn     bool
		timeout time.Duration
		wantErr bool
	}{
		{"longer than the brokers allow", true, time.Minute, true},
		{"as long as the brokers allow", true, 30 * time.Second, false},
		{"shorter", true, 10 * time.Second, false},
		{"at-least-once: no transactions", false, time.Minute, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newCluster(t, kfake.BrokerConfigs(map[string]string{"transaction.max.timeout.ms": "30000"}))
			p := newProducer(t, c, tt.txn, Options{TransactionTimeout: tt.timeout})
			err := p.CheckTransactionTimeout(context.Background())
			if !tt.wantErr {
				if err != nil {
					t.Fatalf("CheckTransactionTimeout: %v; want nil", err)
				}
				return
			}
			var te *TransactionTimeoutError
			if !errors.As(err, &te) {
				t.Fatalf("CheckTransactionTimeout: %v; want a *TransactionTimeoutError", err)
			}
			if te.Timeout != tt.timeout || te.BrokerMax != 30*time.Second || te.Broker != 0 {
				t.Errorf("got Timeout %s, BrokerMax %s, Broker %d; want %s, 30s, 0", te.Timeout, te.BrokerMax, te.Broker, tt.timeout)
			}
		})
	}
}

// TestBrokerRefusesTransactionTimeout: when the brokers' configuration
// cannot be read, the check passes, and the broker's own refusal of the
// timeout (INVALID_TRANSACTION_TIMEOUT from InitProducerID) is reported as
// a *TransactionTimeoutError wherever it surfaces, not as a transient
// Kafka error.
func TestBrokerRefusesTransactionTimeout(t *testing.T) {
	// denyDescribeConfigs answers DescribeConfigs as a broker does to a
	// principal without DESCRIBE_CONFIGS on the cluster.
	denyDescribeConfigs := func(c *kfake.Cluster) {
		c.ControlKey(int16(kmsg.DescribeConfigs), func(kreq kmsg.Request) (kmsg.Response, error, bool) {
			c.KeepControl()
			req := kreq.(*kmsg.DescribeConfigsRequest)
			resp := req.ResponseKind().(*kmsg.DescribeConfigsResponse)
			for _, r := range req.Resources {
				rr := kmsg.NewDescribeConfigsResponseResource()
				rr.ResourceType, rr.ResourceName = r.ResourceType, r.ResourceName
				rr.ErrorCode = kerr.ClusterAuthorizationFailed.Code
				resp.Resources = append(resp.Resources, rr)
			}
			return resp, nil, true
		})
	}
	// refuseTimeout makes every InitProducerID fail as for a timeout
	// above transaction.max.timeout.ms.
	refuseTimeout := func(c *kfake.Cluster) {
		c.ControlKey(int16(kmsg.InitProducerID), func(kreq kmsg.Request) (kmsg.Response, error, bool) {
			c.KeepControl()
			resp := kreq.(*kmsg.InitProducerIDRequest).ResponseKind().(*kmsg.InitProducerIDResponse)
			resp.ErrorCode = kerr.InvalidTransactionTimeout.Code
			return resp, nil, true
		})
	}
	tests := []struct {
		name  string
		opts  []kfake.Opt
		fault func(*kfake.Cluster)
		// first is where the refusal surfaces.
		first func(*Producer) error
	}{
		{
			name:  "broker setting, at the first transaction",
			opts:  []kfake.Opt{kfake.BrokerConfigs(map[string]string{"transaction.max.timeout.ms": "30000"})},
			first: produceAndCommit,
		},
		{
			name:  "refused at the first transaction",
			fault: refuseTimeout,
			first: produceAndCommit,
		},
		{
			name:  "refused when claiming the transactional id",
			fault: refuseTimeout,
			first: func(p *Producer) error { return p.ClaimTransactionalID(context.Background()) },
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newCluster(t, tt.opts...)
			denyDescribeConfigs(c)
			if tt.fault != nil {
				tt.fault(c)
			}
			p := newProducer(t, c, true, Options{TransactionTimeout: time.Minute})
			if err := p.CheckTransactionTimeout(context.Background()); err != nil {
				t.Fatalf("CheckTransactionTimeout without access to the broker configuration: %v; want nil", err)
			}
			err := tt.first(p)
			var te *TransactionTimeoutError
			if !errors.As(err, &te) || !errors.Is(err, kerr.InvalidTransactionTimeout) {
				t.Fatalf("error %v; want a *TransactionTimeoutError wrapping INVALID_TRANSACTION_TIMEOUT", err)
			}
			if te.Timeout != time.Minute || te.BrokerMax != 0 {
				t.Errorf("got Timeout %s, BrokerMax %s; want 1m0s and 0 (unknown)", te.Timeout, te.BrokerMax)
			}
		})
	}
}

func produceAndCommit(p *Producer) error {
	if err := p.Produce(context.Background(), event("a")); err != nil {
		return err
	}
	return p.Commit(context.Background(), checkpointRecord("1"))
}
