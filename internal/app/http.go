package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/sluicecdc/sluice/internal/config"
)

// ServeHTTP serves /metrics, /healthz and /readyz on h.Listen until ctx
// ends, with the probe thresholds of h. It returns once listening, or an
// error naming the address.
func ServeHTTP(ctx context.Context, h config.HTTP, st *State, log *slog.Logger) error {
	addr := h.Listen
	if addr == "" {
		return nil
	}
	st.SetProbeTimeouts(h.ReadinessTimeout, h.LivenessTimeout)
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("http.listen %s: %w (choose a free address or set http.listen to \"\" to disable)", addr, err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/healthz", probeHandler(st.Live))
	mux.HandleFunc("/readyz", probeHandler(st.Ready))
	mux.Handle("/metrics", st.metricsHandler(log))
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("http server stopped", "err", err)
		}
	}()
	go st.sampleProgress(ctx, time.Second)
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
	}()
	return nil
}
