// Package orders is the write side of the example: an order service that
// keeps customers and their orders in Postgres. It knows nothing of Kafka:
// Sluice captures its tables, and the projection service
// (package projection) reads the changes.
package orders

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"
)

// Schema creates the order service's tables.
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
);`

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

// UpsertCustomer creates or renames a customer.
func (s *Service) UpsertCustomer(ctx context.Context, id int64, name, email string) error {
	_, err := s.DB.Exec(ctx, `INSERT INTO customers (id, name, email) VALUES ($1, $2, $3)
		ON CONFLICT (id) DO UPDATE SET name = excluded.name, email = excluded.email`, id, name, email)
	if err != nil {
		return fmt.Errorf("upserting customer %d: %w", id, err)
	}
	return nil
}

// PlaceOrder records a new order; total is a decimal text such as
// "19.99".
func (s *Service) PlaceOrder(ctx context.Context, customerID int64, total string) (int64, error) {
	var id int64
	err := s.DB.QueryRow(ctx, `INSERT INTO orders (customer_id, total) VALUES ($1, $2::numeric) RETURNING id`,
		customerID, total).Scan(&id)
	if err != nil {
		return 0, fmt.Errorf("placing an order for customer %d: %w", customerID, err)
	}
	return id, nil
}

// SetStatus moves an order to a new status (paid, shipped, ...).
func (s *Service) SetStatus(ctx context.Context, id int64, status string) error {
	if _, err := s.DB.Exec(ctx, `UPDATE orders SET status = $2 WHERE id = $1`, id, status); err != nil {
		return fmt.Errorf("setting the status of order %d: %w", id, err)
	}
	return nil
}

// Cancel deletes an order.
func (s *Service) Cancel(ctx context.Context, id int64) error {
	if _, err := s.DB.Exec(ctx, `DELETE FROM orders WHERE id = $1`, id); err != nil {
		return fmt.Errorf("cancelling order %d: %w", id, err)
	}
	return nil
}
