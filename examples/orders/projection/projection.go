// Package projection is the read side of the example: a service that
// maintains order_view, a denormalised table of orders with their
// customer's name, in its own database. It consumes, with package
// changes, two kinds of topic:
//
//   - outbox.event.order: the order service's domain events (OrderPlaced,
//     OrderStatusChanged, OrderCancelled), routed from its outbox table by
//     Sluice's outbox transform; the event type is the header "type", the
//     payload the event's JSON;
//   - <prefix>.public.customers: the change events (Debezium envelope) of
//     the customers table, for the names.
//
// Processing is at least once (changes.Consumer), so every write here is
// idempotent: an upsert or delete by primary key of the state the event
// carries, the last event of a key wins. After a crash the events since
// the last committed offset are applied again, in order, and the tables
// converge to the same state.
package projection

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/sluicecdc/sluice/changes"
	"github.com/sluicecdc/sluice/examples/orders"
)

// Schema creates the projection's tables: the customers' names it needs,
// and the view it serves.
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

// OrderEventsTopic is where Sluice's outbox transform routes the order
// service's events by default (outbox.event.<aggregatetype>).
const OrderEventsTopic = "outbox.event.order"

// Customer is a row of the source's customers table, decoded from change
// events by field name.
type Customer struct {
	ID   int64
	Name string
}

// Projector applies events to the projection database. Its Handle is a
// changes.Handler.
type Projector struct {
	DB *pgx.Conn
	// Prefix is the Sluice instance name: the customers topic is
	// <Prefix>.public.customers.
	Prefix string
	// OrderEvents is the order events' topic; empty means
	// OrderEventsTopic.
	OrderEvents string
}

func (p *Projector) customersTopic() string { return p.Prefix + ".public.customers" }

func (p *Projector) orderEventsTopic() string {
	if p.OrderEvents != "" {
		return p.OrderEvents
	}
	return OrderEventsTopic
}

// Topics returns the topics the projection consumes.
func (p *Projector) Topics() []string { return []string{p.customersTopic(), p.orderEventsTopic()} }

// Setup creates the projection's tables.
func (p *Projector) Setup(ctx context.Context) error {
	_, err := p.DB.Exec(ctx, Schema)
	return err
}

// Handle applies one event.
func (p *Projector) Handle(ctx context.Context, e *changes.Event) error {
	switch e.Record.Topic {
	case p.customersTopic():
		return p.customer(ctx, e)
	case p.orderEventsTopic():
		return p.orderEvent(ctx, e)
	}
	return nil
}

// customer applies a change of the customers table. Tombstones need
// nothing: the delete before them did the work.
func (p *Projector) customer(ctx context.Context, e *changes.Event) error {
	if e.Kind != changes.KindChange || e.Op == changes.Truncate {
		return nil
	}
	if e.Op == changes.Delete {
		var key struct{ ID int64 }
		if err := e.DecodeKey(&key); err != nil {
			return err
		}
		return pgx.BeginFunc(ctx, p.DB, func(tx pgx.Tx) error {
			if _, err := tx.Exec(ctx, `DELETE FROM customer_names WHERE id = $1`, key.ID); err != nil {
				return err
			}
			_, err := tx.Exec(ctx, `UPDATE order_view SET customer_name = NULL WHERE customer_id = $1`, key.ID)
			return err
		})
	}
	var c Customer // Create, Update, or Read (a snapshot row)
	if err := e.DecodeAfter(&c); err != nil {
		return err
	}
	return pgx.BeginFunc(ctx, p.DB, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `INSERT INTO customer_names (id, name) VALUES ($1, $2)
			ON CONFLICT (id) DO UPDATE SET name = excluded.name`, c.ID, c.Name); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `UPDATE order_view SET customer_name = $2 WHERE customer_id = $1`, c.ID, c.Name)
		return err
	})
}

// orderEvent applies one order event from the outbox.
func (p *Projector) orderEvent(ctx context.Context, e *changes.Event) error {
	typ, _ := e.Header("type")
	var o orders.OrderEvent
	if err := e.DecodeValue(&o); err != nil {
		return fmt.Errorf("order event %s: %w", typ, err)
	}
	switch typ {
	case orders.OrderCancelled:
		_, err := p.DB.Exec(ctx, `DELETE FROM order_view WHERE order_id = $1`, o.ID)
		return err
	case orders.OrderPlaced, orders.OrderStatusChanged:
		placed, err := time.Parse(time.RFC3339Nano, o.PlacedAt)
		if err != nil {
			return fmt.Errorf("order event %s of order %d: placed_at: %w", typ, o.ID, err)
		}
		_, err = p.DB.Exec(ctx, `INSERT INTO order_view (order_id, customer_id, customer_name, status, total, placed_at)
			VALUES ($1, $2, (SELECT name FROM customer_names WHERE id = $2), $3, $4::numeric, $5)
			ON CONFLICT (order_id) DO UPDATE SET customer_id = excluded.customer_id, customer_name = excluded.customer_name,
				status = excluded.status, total = excluded.total, placed_at = excluded.placed_at`,
			o.ID, o.CustomerID, o.Status, o.Total.String(), placed)
		return err
	}
	// An event type this version does not know: newer order services may
	// publish more. Skip it, as a consumer of domain events should.
	return nil
}
