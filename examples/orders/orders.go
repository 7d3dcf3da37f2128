// Package orders is the write side of the example: an order service that
// keeps customers and their orders in Postgres and publishes a domain
// event for every change of an order through the transactional outbox:
// the event is written to the outbox table in the same transaction as
// the order, so the two never disagree. It knows nothing of Kafka:
// Sluice captures the tables, routes the outbox rows to the topic
// outbox.event.order (its outbox transform, as Debezium's EventRouter),
// and the projection service (package projection) reads them.
package orders

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"

	"github.com/jackc/pgx/v5"
)

// Schema creates the order service's tables. The outbox has the columns
// Debezium's EventRouter (and Sluice's outbox transform) expect by
// default.
const Schema = `
CREATE TABLE IF NOT EXISTS customers (
	id    bigint PRIMARY KEY,
	name  text NOT NULL,
	email text NOT NULL
);
CREATE TABLE IF NOT EXISTS orders (
	id          bigserial PRIMARY KEY,
	customer_id bigint NOT NULL REFERENCES customers (id),
	status      text NOT NULL DEFAULT 'placed',
	total       numeric(10,2) NOT NULL,
	placed_at   timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE IF NOT EXISTS outbox (
	id            uuid PRIMARY KEY DEFAULT gen_random_uuid(),
	aggregatetype text NOT NULL,
	aggregateid   text NOT NULL,
	type          text NOT NULL,
	payload       jsonb NOT NULL
);`

// Event types published on outbox.event.order.
const (
	OrderPlaced        = "OrderPlaced"
	OrderStatusChanged = "OrderStatusChanged"
	OrderCancelled     = "OrderCancelled"
)

// OrderEvent is the payload of every order event: the order's state after
// the change (for OrderCancelled, only ID), so that a consumer can apply
// events idempotently.
type OrderEvent struct {
	ID         int64       `json:"id"`
	CustomerID int64       `json:"customer_id,omitempty"`
	Status     string      `json:"status,omitempty"`
	Total      json.Number `json:"total,omitempty"` // exact decimal, e.g. 19.90
	PlacedAt   string      `json:"placed_at,omitempty"`
}

// Service is the order service's data layer. Each method is one
// transaction.
type Service struct {
	DB *pgx.Conn
}

// Setup creates the tables.
func (s *Service) Setup(ctx context.Context) error {
	_, err := s.DB.Exec(ctx, Schema)
	return err
}

// UpsertCustomer creates or renames a customer. Customers publish no
// domain events: their consumers read the customers change topic.
func (s *Service) UpsertCustomer(ctx context.Context, id int64, name, email string) error {
	_, err := s.DB.Exec(ctx, `INSERT INTO customers (id, name, email) VALUES ($1, $2, $3)
		ON CONFLICT (id) DO UPDATE SET name = excluded.name, email = excluded.email`, id, name, email)
	if err != nil {
		return fmt.Errorf("upserting customer %d: %w", id, err)
	}
	return nil
}

// PlaceOrder records a new order and its OrderPlaced event; total is a
// decimal text such as "19.99".
func (s *Service) PlaceOrder(ctx context.Context, customerID int64, total string) (int64, error) {
	var id int64
	err := pgx.BeginFunc(ctx, s.DB, func(tx pgx.Tx) error {
		if err := tx.QueryRow(ctx, `INSERT INTO orders (customer_id, total) VALUES ($1, $2::numeric) RETURNING id`,
			customerID, total).Scan(&id); err != nil {
			return err
		}
		return publish(ctx, tx, id, OrderPlaced)
	})
	if err != nil {
		return 0, fmt.Errorf("placing an order for customer %d: %w", customerID, err)
	}
	return id, nil
}

// SetStatus moves an order to a new status (paid, shipped, ...).
func (s *Service) SetStatus(ctx context.Context, id int64, status string) error {
	err := pgx.BeginFunc(ctx, s.DB, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `UPDATE orders SET status = $2 WHERE id = $1`, id, status); err != nil {
			return err
		}
		return publish(ctx, tx, id, OrderStatusChanged)
	})
	if err != nil {
		return fmt.Errorf("setting the status of order %d: %w", id, err)
	}
	return nil
}

// Cancel deletes an order.
func (s *Service) Cancel(ctx context.Context, id int64) error {
	err := pgx.BeginFunc(ctx, s.DB, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `DELETE FROM orders WHERE id = $1`, id); err != nil {
			return err
		}
		return publish(ctx, tx, id, OrderCancelled)
	})
	if err != nil {
		return fmt.Errorf("cancelling order %d: %w", id, err)
	}
	return nil
}

// publish writes the order's event to the outbox and deletes it again in
// the same transaction: the insert is in the WAL, which is all Sluice
// reads, and the outbox table stays empty (the router ignores deletes).
func publish(ctx context.Context, tx pgx.Tx, id int64, typ string) error {
	var eventID string
	err := tx.QueryRow(ctx, `INSERT INTO outbox (aggregatetype, aggregateid, type, payload)
		SELECT 'order', $3, $2,
			coalesce((SELECT jsonb_build_object('id', o.id, 'customer_id', o.customer_id, 'status', o.status,
				'total', o.total, 'placed_at', o.placed_at) FROM orders o WHERE o.id = $1),
				jsonb_build_object('id', $1::bigint))
		RETURNING id::text`, id, typ, strconv.FormatInt(id, 10)).Scan(&eventID)
	if err != nil {
		return err
	}
	_, err = tx.Exec(ctx, `DELETE FROM outbox WHERE id = $1::uuid`, eventID)
	return err
}
