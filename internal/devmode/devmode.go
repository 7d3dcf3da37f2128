// Package devmode starts the embedded development broker and registry:
// an in-process Kafka-protocol broker (franz-go kfake) and an in-process
// Confluent-API schema registry (franz-go srfake, with compatibility levels
// enforced as a real registry enforces them: compat.go), both on loopback,
// so Sluice runs on a laptop with nothing else installed. They keep
// everything in memory: never use them in production.
package devmode

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/sr/srfake"
)

// Fixed development addresses, as the contract gives them.
const (
	BrokerPort   = 9092
	RegistryAddr = "127.0.0.1:8081"
)

// Env is a running development environment.
type Env struct {
	Brokers     []string
	RegistryURL string
	cluster     *kfake.Cluster
	srv         *http.Server
}

// Start starts the broker if kafka is true and the registry if registry
// is true.
func Start(log *slog.Logger, kafka, registry bool) (*Env, error) {
	e := &Env{}
	if kafka {
		c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.Ports(BrokerPort), kfake.ClusterID("sluice-dev"))
		if err != nil {
			return nil, fmt.Errorf("embedded kafka on 127.0.0.1:%d: %w (is another broker running there? set kafka.brokers to use it)", BrokerPort, err)
		}
		e.cluster = c
		e.Brokers = c.ListenAddrs()
	}
	if registry {
		ln, err := net.Listen("tcp", RegistryAddr)
		if err != nil {
			e.Close()
			return nil, fmt.Errorf("embedded schema registry on %s: %w (is another registry running there? set schema_registry.url to use it)", RegistryAddr, err)
		}
		reg := srfake.NewRegistry()
		e.srv = &http.Server{Handler: &compatHandler{next: reg.Handler()}, ReadHeaderTimeout: 10 * time.Second}
		go func() {
			if err := e.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
				log.Error("embedded schema registry stopped", "err", err)
			}
		}()
		e.RegistryURL = "http://" + RegistryAddr
	}
	if kafka || registry {
		log.Warn("DEVELOPMENT MODE: embedded in-memory Kafka broker and/or schema registry; everything is lost at exit. "+
			"Set kafka.brokers and schema_registry.url for real use.",
			"kafka", e.Brokers, "schema_registry", e.RegistryURL)
	}
	return e, nil
}

// Close stops what Start started.
func (e *Env) Close() {
	if e.srv != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		_ = e.srv.Shutdown(ctx)
		cancel()
	}
	if e.cluster != nil {
		e.cluster.Close()
	}
}
