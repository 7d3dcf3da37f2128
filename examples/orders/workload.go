package orders

import (
	"context"
	"fmt"
	"math/rand/v2"
)

// Workload makes n changes at random with s: it creates customers
// customers first, then places orders (half of the changes), moves
// orders through their statuses, cancels some and renames customers.
// The end-to-end test and cmd/order-service both run it.
func Workload(ctx context.Context, s *Service, rng *rand.Rand, n, customers int) error {
	for c := 1; c <= customers; c++ {
		if err := s.UpsertCustomer(ctx, int64(c), fmt.Sprintf("customer %d", c), fmt.Sprintf("c%d@example.com", c)); err != nil {
			return err
		}
	}
	var open []int64
	for i := 0; i < n && ctx.Err() == nil; i++ {
		var err error
		switch r := rng.IntN(10); {
		case r < 5 || len(open) == 0:
			var id int64
			total := fmt.Sprintf("%d.%02d", rng.IntN(500), rng.IntN(100))
			if id, err = s.PlaceOrder(ctx, int64(1+rng.IntN(customers)), total); err == nil {
				open = append(open, id)
			}
		case r < 8:
			err = s.SetStatus(ctx, open[rng.IntN(len(open))], []string{"paid", "shipped", "delivered"}[rng.IntN(3)])
		case r < 9:
			k := rng.IntN(len(open))
			err = s.Cancel(ctx, open[k])
			open = append(open[:k], open[k+1:]...)
		default:
			c := int64(1 + rng.IntN(customers))
			err = s.UpsertCustomer(ctx, c, fmt.Sprintf("customer %d v%d", c, i), fmt.Sprintf("c%d@example.com", c))
		}
		if err != nil {
			return err
		}
	}
	return ctx.Err()
}
