// Command projection-service is the example's read side: it consumes the
// order events Sluice routes from the order service's outbox and the
// customers change topic, with package changes, and maintains order_view
// in its own database. It stops on SIGINT or SIGTERM, after committing the
// offsets of what it applied.
package main

import (
	"context"
	"errors"
	"flag"
	"log"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/jackc/pgx/v5"

	"github.com/sluicecdc/sluice/changes"
	"github.com/sluicecdc/sluice/examples/orders/projection"
)

func main() {
	brokers := flag.String("brokers", "127.0.0.1:9092", "Kafka brokers, comma-separated")
	registry := flag.String("registry", "http://127.0.0.1:8081", "schema registry URL")
	prefix := flag.String("prefix", "shop", "the Sluice instance name (topic prefix)")
	group := flag.String("group", "order-projection", "consumer group")
	dsn := flag.String("dsn", "postgres://postgres@127.0.0.1:5432/projection", "the projection's database")
	events := flag.String("order-events", projection.OrderEventsTopic, "the topic of the order events")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, strings.Split(*brokers, ","), *registry, *prefix, *group, *dsn, *events); err != nil && !errors.Is(err, context.Canceled) {
		log.Fatal(err)
	}
}

func run(ctx context.Context, brokers []string, registry, prefix, group, dsn, events string) error {
	db, err := pgx.Connect(ctx, dsn)
	if err != nil {
		return err
	}
	defer db.Close(context.Background())
	p := &projection.Projector{DB: db, Prefix: prefix, OrderEvents: events}
	if err := p.Setup(ctx); err != nil {
		return err
	}
	c, err := changes.NewConsumer(changes.Config{
		Brokers:     brokers,
		Group:       group,
		Topics:      p.Topics(),
		RegistryURL: registry,
	})
	if err != nil {
		return err
	}
	defer c.Close()
	log.Printf("projecting %v into order_view", p.Topics())
	return c.Run(ctx, p.Handle)
}
