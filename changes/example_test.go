package changes_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"math/big"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sr/srfake"

	"github.com/sluicecdc/sluice/changes"
	"github.com/sluicecdc/sluice/schema"
)

// Order is the service's own type for rows of public.orders.
type Order struct {
	ID         int64 `change:"id"`
	CustomerID int64 // column customer_id, matched by name
	Total      *big.Rat
	PlacedAt   time.Time
}

// A service consumes the orders change topic in its consumer group and
// keeps a projection up to date. Here an in-process Kafka (kfake) and
// registry (srfake) stand in for the real ones, and one change is written
// as Sluice writes it.
func Example() {
	cluster, _ := kfake.NewCluster(kfake.SeedTopics(1, "inventory.public.orders"))
	defer cluster.Close()
	registry := srfake.New()
	defer registry.Close()
	writeOrderAsSluice(cluster.ListenAddrs(), registry.URL())

	consumer, err := changes.NewConsumer(changes.Config{
		Brokers:     cluster.ListenAddrs(),
		Group:       "order-projection",
		Topics:      []string{"inventory.public.orders"},
		RegistryURL: registry.URL(),
	})
	if err != nil {
		log.Fatal(err)
	}
	defer consumer.Close()

	ctx, stop := context.WithCancel(context.Background())
	err = consumer.Run(ctx, func(ctx context.Context, e *changes.Event) error {
		switch e.Kind {
		case changes.KindTombstone:
			return nil // the delete before it did the work
		case changes.KindOther:
			return nil
		}
		switch e.Op {
		case changes.Delete:
			var key struct{ ID int64 }
			if err := e.DecodeKey(&key); err != nil {
				return err
			}
			fmt.Println("delete order", key.ID)
		default: // Create, Update, Read (snapshot)
			var o Order
			if err := e.DecodeAfter(&o); err != nil {
				return err
			}
			fmt.Printf("%s order %d of customer %d: %s on %s (lsn %d)\n", e.Op, o.ID, o.CustomerID,
				o.Total.FloatString(2), o.PlacedAt.Format(time.DateOnly), e.Source.LSN)
		}
		stop() // a real service runs until it is told to stop
		return nil
	})
	if !errors.Is(err, context.Canceled) {
		log.Fatal(err)
	}
	// Output: c order 1001 of customer 7: 42.50 on 2026-12-07 (lsn 5678)
}

// writeOrderAsSluice writes one change event of public.orders with
// Sluice's own encoder.
func writeOrderAsSluice(brokers []string, registryURL string) {
	ctx := context.Background()
	tbl := &schema.Table{ID: schema.TableID{Namespace: "public", Name: "orders"}, Key: []int{0}, Columns: []schema.Column{
		{Name: "id", Type: "int8", TypeMod: -1},
		{Name: "customer_id", Type: "int8", TypeMod: -1},
		{Name: "total", Type: "numeric", TypeMod: 10<<16 | 2 + 4},
		{Name: "placed_at", Type: "timestamptz", TypeMod: -1},
	}}
	codec, err := schema.NewCodec("inventory.public.orders", tbl, schema.CodecOptions{Kind: schema.Postgres, Name: "inventory"})
	if err != nil {
		log.Fatal(err)
	}
	reg, err := schema.NewRegistry(schema.RegistryOptions{URL: registryURL})
	if err != nil {
		log.Fatal(err)
	}
	keyID, err := reg.Register(ctx, codec.Topic+"-key", codec.KeySchema)
	if err != nil {
		log.Fatal(err)
	}
	valID, err := reg.Register(ctx, codec.Topic+"-value", codec.ValueSchema)
	if err != nil {
		log.Fatal(err)
	}
	row := []any{[]byte("1001"), []byte("7"), []byte("42.50"), []byte("2026-12-07 09:00:00+00")}
	key, _ := codec.AppendKey(schema.AppendWireHeader(nil, keyID), row)
	val, err := codec.AppendValue(schema.AppendWireHeader(nil, valID), &schema.Event{Op: 'c', After: row,
		Source: &schema.SourceInfo{TsMs: 1, DB: "app", TxID: 9, LSN: 5678}})
	if err != nil {
		log.Fatal(err)
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...))
	if err != nil {
		log.Fatal(err)
	}
	defer cl.Close()
	if err := cl.ProduceSync(ctx, &kgo.Record{Topic: codec.Topic, Key: key, Value: val}).FirstErr(); err != nil {
		log.Fatal(err)
	}
}

// A TransactConsumer turns order changes into events on another topic,
// exactly once: the produced records and the consumed offsets commit in
// one Kafka transaction.
func ExampleTransactConsumer() {
	tc, err := changes.NewTransactConsumer(changes.TransactConfig{
		Config: changes.Config{
			Brokers:     []string{"127.0.0.1:9092"},
			Group:       "order-events",
			Topics:      []string{"inventory.public.orders"},
			RegistryURL: "http://127.0.0.1:8081",
		},
		TransactionalID: "order-events-1",
	})
	if err != nil {
		log.Fatal(err)
	}
	defer tc.Close()
	err = tc.Run(context.Background(), func(ctx context.Context, e *changes.Event, out *changes.Output) error {
		if e.Kind != changes.KindChange || e.Op != changes.Create {
			return nil
		}
		var o Order
		if err := e.DecodeAfter(&o); err != nil {
			return err
		}
		out.Produce(ctx, &kgo.Record{Topic: "order-placed", Key: fmt.Appendf(nil, "%d", o.ID),
			Value: fmt.Appendf(nil, `{"order":%d,"total":"%s"}`, o.ID, changes.RatString(o.Total))})
		return nil
	})
	log.Println(err)
}

// DecodeInto fills a struct from any image; Infinity needs a field of
// type any, and Unavailable leaves the field as it was.
func ExampleDecodeInto() {
	var row struct {
		ID      int64
		Note    string
		ValidTo any
	}
	row.Note = "kept from before"
	img := map[string]any{"id": int64(5), "note": changes.Unavailable, "valid_to": changes.PositiveInfinity}
	if err := changes.DecodeInto(img, &row); err != nil {
		log.Fatal(err)
	}
	fmt.Println(row.ID, row.Note, row.ValidTo)
	// Output: 5 kept from before infinity
}
