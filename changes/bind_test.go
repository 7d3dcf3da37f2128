package changes

import (
	"encoding/json"
	"errors"
	"math/big"
	"net/netip"
	"testing"
	"time"
)

type embedded struct {
	Note string
}

type order struct {
	ID         int64 `change:"id"`
	CustomerID int32
	Total      *big.Rat
	TotalF     float64 `change:"total_f"`
	TotalS     string  `change:"total_s"`
	Placed     time.Time
	Shipped    *time.Time
	Meta       struct{ Gift bool }
	MetaRaw    json.RawMessage `change:"meta_raw"`
	Tags       []string
	Addr       netip.Addr
	Qty        uint8
	Skipped    string `change:"-"`
	Sent       any
	Bio        string
	embedded
}

func TestDecodeInto(t *testing.T) {
	placed := time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC)
	img := map[string]any{
		"id": int64(7), "customer_id": int32(3), "total": big.NewRat(1999, 100), "total_s": big.NewRat(-5, 1000), "total_f": big.NewRat(1999, 100),
		"placed": placed, "shipped": nil, "meta": json.RawMessage(`{"Gift":true}`), "meta_raw": json.RawMessage(`[1]`),
		"tags": []any{"a", "b"}, "addr": "10.0.0.1", "qty": int16(200), "skipped": "x", "sent": NegativeInfinity,
		"bio": Unavailable, "note": "hi", "unknown": 1,
	}
	o := order{Bio: "kept", Skipped: "mine", Shipped: &placed}
	if err := DecodeInto(img, &o); err != nil {
		t.Fatal(err)
	}
	if o.ID != 7 || o.CustomerID != 3 || o.Total.Cmp(big.NewRat(1999, 100)) != 0 || o.TotalF != 19.99 || o.TotalS != "-0.005" ||
		!o.Placed.Equal(placed) || o.Shipped != nil || !o.Meta.Gift || string(o.MetaRaw) != "[1]" ||
		len(o.Tags) != 2 || o.Tags[1] != "b" || o.Addr.String() != "10.0.0.1" || o.Qty != 200 || o.Skipped != "mine" ||
		o.Sent != NegativeInfinity || o.Bio != "kept" || o.Note != "hi" {
		t.Errorf("%+v", o)
	}

	bad := []map[string]any{
		{"qty": int16(300)},             // overflows uint8
		{"placed": PositiveInfinity},    // a time.Time cannot hold infinity
		{"customer_id": "3"},            // a string into an int
		{"total": json.RawMessage(`1`)}, // JSON into *big.Rat: json cannot
	}
	for _, b := range bad {
		var fe *FieldError
		if err := DecodeInto(b, &order{}); !errors.As(err, &fe) {
			t.Errorf("%v: %v, want a FieldError", b, err)
		}
	}
	if err := DecodeInto(img, order{}); !errors.Is(err, ErrConfig) {
		t.Errorf("non-pointer: %v", err)
	}
}

func TestRatString(t *testing.T) {
	for r, want := range map[*big.Rat]string{
		big.NewRat(1999, 100): "19.99", big.NewRat(-5, 1000): "-0.005", big.NewRat(12, 1): "12",
		big.NewRat(1, 8): "0.125", big.NewRat(1, 3): "1/3",
	} {
		if got := RatString(r); got != want {
			t.Errorf("%v: %q, want %q", r, got, want)
		}
	}
}
