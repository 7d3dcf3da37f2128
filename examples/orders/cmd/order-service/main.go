// Command order-service is the example's write side: it creates the
// customers and orders tables and then places, pays, ships and cancels
// orders and renames customers at random, as a busy shop would, until
// it has made -n changes or is interrupted.
package main

import (
	"context"
	"flag"
	"log"
	"math/rand/v2"
	"os"
	"os/signal"
	"syscall"

	"github.com/jackc/pgx/v5"

	"github.com/sluicecdc/sluice/examples/orders"
)

func main() {
	dsn := flag.String("dsn", "postgres://postgres@127.0.0.1:5432/shop", "the order service's database")
	n := flag.Int("n", 1000, "changes to make")
	customers := flag.Int("customers", 20, "customers to create")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, *dsn, *n, *customers); err != nil {
		log.Fatal(err)
	}
}

func run(ctx context.Context, dsn string, n, customers int) error {
	db, err := pgx.Connect(ctx, dsn)
	if err != nil {
		return err
	}
	defer db.Close(context.Background())
	s := &orders.Service{DB: db}
	if err := s.Setup(ctx); err != nil {
		return err
	}
	return orders.Workload(ctx, s, rand.New(rand.NewPCG(1, 2)), n, customers)
}
