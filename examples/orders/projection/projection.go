// Package projection is the read side of the example: a service that
// consumes the change topics of the order service's customers and orders
// tables with package changes and maintains order_view, a denormalised
// table of orders with their customer's name, in its own database.
//
// Processing is at least once (changes.Consumer), so every write here is
// idempotent: an upsert or delete by primary key, the last event of a key
// wins. After a crash the events since the last committed offset are
// applied again, in order, and the table converges to the same state.
package projection

import (
	"context"
	"fmt"
	"math/big"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/sluicecdc/sluice/changes"
)

// Schema creates the projection's tables: a replica of the customers it
// needs, and the view it serves.
const Schema = `
CREATE TABLE IF NOT EXISTS customer_names (
	id   bigint PRIMARY KEY,
	name text NOT NULL
);
CREATE TABLE IF NOT EXISTS order_view (
	order_id      bigint PRIMARY KEY,
	customer_id   bigint NOT NULL,
	customer_name text,
	status        text NOT NULL,
	total         numeric(10,2) NOT NULL,
	placed_at     timestamptz NOT NULL
);`

// Order is a row of the source's orders table, decoded by field name.
type Order struct {
	ID         int64
	CustomerID int64
	Status     string
	Total      *big.Rat
	PlacedAt   time.Time
}

// Customer is a row of the source's customers table.
type Customer struct {
	ID   int64
	Name string
}

// Projector applies change events to the projection database. Its
// Handle is a changes.Handler.
type Projector struct {
	DB *pgx.Conn
	// Prefix is the Sluice instance name: topics are
	// <Prefix>.public.customers and <Prefix>.public.orders.
	Prefix string
}

// Topics returns the change topics the projection consumes.
func (p *Projector) Topics() []string {
	return []string{p.Prefix + ".public.customers", p.Prefix + ".public.orders"}
}

// Setup creates the projection's tables.
func (p *Projector) Setup(ctx context.Context) error {
	_, err := p.DB.Exec(ctx, Schema)
	return err
}

// Handle applies one event. Tombstones and other records need nothing.
func (p *Projector) Handle(ctx context.Context, e *changes.Event) error {
	if e.Kind != changes.KindChange {
		return nil
	}
	switch {
	case strings.HasSuffix(e.Record.Topic, ".customers"):
		return p.customer(ctx, e)
	case strings.HasSuffix(e.Record.Topic, ".orders"):
		return p.order(ctx, e)
	}
	return nil
}

func (p *Projector) customer(ctx context.Context, e *changes.Event) error {
	var key struct{ ID int64 }
	if err := e.DecodeKey(&key); err != nil {
		return err
	}
	if e.Op == changes.Delete {
		return p.tx(ctx, func(tx pgx.Tx) error {
			if _, err := tx.Exec(ctx, `DELETE FROM customer_names WHERE id = $1`, key.ID); err != nil {
				return err
			}
			_, err := tx.Exec(ctx, `UPDATE order_view SET customer_name = NULL WHERE customer_id = $1`, key.ID)
			return err
		})
	}
	if e.Op == changes.Truncate {
		return nil
	}
	var c Customer
	if err := e.DecodeAfter(&c); err != nil {
		return err
	}
	return p.tx(ctx, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `INSERT INTO customer_names (id, name) VALUES ($1, $2)
			ON CONFLICT (id) DO UPDATE SET name = excluded.name`, c.ID, c.Name); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `UPDATE order_view SET customer_name = $2 WHERE customer_id = $1`, c.ID, c.Name)
		return err
	})
}

func (p *Projector) order(ctx context.Context, e *changes.Event) error {
	switch e.Op {
	case changes.Delete:
		var key struct{ ID int64 }
		if err := e.DecodeKey(&key); err != nil {
			return err
		}
		_, err := p.DB.Exec(ctx, `DELETE FROM order_view WHERE order_id = $1`, key.ID)
		return err
	case changes.Truncate:
		return nil
	}
	var o Order
	if err := e.DecodeAfter(&o); err != nil {
		return err
	}
	_, err := p.DB.Exec(ctx, `INSERT INTO order_view (order_id, customer_id, customer_name, status, total, placed_at)
		VALUES ($1, $2, (SELECT name FROM customer_names WHERE id = $2), $3, $4::numeric, $5)
		ON CONFLICT (order_id) DO UPDATE SET customer_id = excluded.customer_id, customer_name = excluded.customer_name,
			status = excluded.status, total = excluded.total, placed_at = excluded.placed_at`,
		o.ID, o.CustomerID, o.Status, o.Total.FloatString(2), o.PlacedAt)
	if err != nil {
		return fmt.Errorf("projecting order %d: %w", o.ID, err)
	}
	return nil
}

func (p *Projector) tx(ctx context.Context, f func(pgx.Tx) error) error {
	return pgx.BeginFunc(ctx, p.DB, f)
}
