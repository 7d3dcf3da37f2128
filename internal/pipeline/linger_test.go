package pipeline

import (
	"testing"
	"time"
)

func TestLingerDue(t *testing.T) {
	now := time.UnixMilli(1_700_000_000_000)
	ms := func(d time.Duration) int64 { return now.Add(-d).UnixMilli() }
	const interval = time.Second
	tests := []struct {
		name       string
		age        time.Duration // of the batch's oldest event
		newest     int64         // source commit time of the newest event
		linger     time.Duration
		res        time.Duration
		wantCommit bool
	}{
		{"caught up, lingered", 10 * time.Millisecond, ms(5 * time.Millisecond), 10 * time.Millisecond, time.Millisecond, true},
		{"caught up, not yet lingered", 9 * time.Millisecond, ms(5 * time.Millisecond), 10 * time.Millisecond, time.Millisecond, false},
		{"zero linger commits at every boundary", 0, ms(0), 0, time.Millisecond, true},
		{"behind the source: interval policy", time.Hour, ms(2 * time.Second), 10 * time.Millisecond, time.Millisecond, false},
		{"one interval behind still counts as caught up", time.Hour, ms(interval), 10 * time.Millisecond, 0, true},
		{"second resolution: up to a second more", time.Hour, ms(1900 * time.Millisecond), 10 * time.Millisecond, time.Second, true},
		{"source clock ahead counts as caught up", time.Hour, ms(-time.Minute), 10 * time.Millisecond, time.Millisecond, true},
		{"commit time unknown", time.Hour, 0, 10 * time.Millisecond, time.Millisecond, false},
		{"linger of the interval turns it off", time.Hour, ms(0), interval, time.Millisecond, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := lingerDue(now, now.Add(-tt.age), tt.newest, tt.linger, interval, tt.res); got != tt.wantCommit {
				t.Fatalf("lingerDue = %v, want %v", got, tt.wantCommit)
			}
		})
	}
}
