package integration

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	osexec "os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/sluicecdc/sluice/examples/orders"
	"github.com/sluicecdc/sluice/integration/harness"
)

// TestExampleOrdersProjection runs the example of examples/orders end to
// end: the order service writes customers, and orders with their events
// in its outbox, to Postgres; Sluice snapshots and streams the customers
// and routes the outbox to outbox.event.order; the projection service (a
// separate process using package changes) maintains order_view in its
// own database from both topics. Sluice is killed with SIGKILL and
// restarted while the shop is busy, then the projection service is; at
// the end the projection equals the source's orders joined with their
// customers' names.
func TestExampleOrdersProjection(t *testing.T) {
	t.Parallel() // long and mostly waiting: runs beside the other parallel tests
	pg, k, r := sharedPostgres(t), sharedKafka(t), sharedRegistry(t)
	dsn, db := pgDB(t, pg)
	name := testName(t)
	viewDSN, view := extraDB(t, dsn, name+"_view")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()

	shop := &orders.Service{DB: db}
	if err := shop.Setup(ctx); err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(13, 5))
	const customers, perPhase = 20, 300
	// Customers written before Sluice starts arrive as snapshot reads.
	// (Outbox rows are deleted as they are written: an order event exists
	// only in the WAL, so orders are placed once Sluice streams.)
	if err := orders.Workload(ctx, shop, rng, 0, customers); err != nil {
		t.Fatal(err)
	}

	cfg := harness.WriteConfig(t, pgConfig(name, dsn, k, r, `transforms:
  - type: outbox
    table: public.outbox
`))
	sl := harness.Start(t, nil, "run", "-c", cfg)
	sl.WaitFor(ctx, "msg=streaming", 90*time.Second)

	bin := buildExample(t, "./examples/orders/cmd/projection-service")
	args := []string{"-brokers", strings.Join(k.Brokers(), ","), "-registry", r.URL, "-prefix", name,
		"-group", name + "-projection", "-dsn", viewDSN}
	proj := startExample(t, bin, args...)

	// Busy shop; Sluice killed in the middle and restarted.
	if err := orders.Workload(ctx, shop, rng, perPhase, customers); err != nil {
		t.Fatal(err)
	}
	if err := orders.Workload(ctx, shop, rng, perPhase, customers); err != nil {
		t.Fatal(err)
	}
	sl.Kill()
	sl = harness.Start(t, nil, "run", "-c", cfg)
	if err := orders.Workload(ctx, shop, rng, perPhase, customers); err != nil {
		t.Fatal(err)
	}
	// The projection service killed while it works through the backlog
	// (orders of the three phases so far), once it applied some of it.
	waitViewRows(ctx, t, view, 50)
	proj.kill()
	var atKill int
	if err := view.QueryRow(ctx, "SELECT count(*) FROM order_view").Scan(&atKill); err != nil {
		t.Fatal(err)
	}
	if err := orders.Workload(ctx, shop, rng, perPhase, customers); err != nil {
		t.Fatal(err)
	}
	proj = startExample(t, bin, args...)

	want := orderView(ctx, t, db, `SELECT o.id, o.customer_id, c.name, o.status, o.total::text, o.placed_at
		FROM orders o JOIN customers c ON c.id = o.customer_id ORDER BY o.id`)
	var got []string
	deadline := time.Now().Add(3 * time.Minute)
	for {
		got = orderView(ctx, t, view, `SELECT order_id, customer_id, customer_name, status, total::text, placed_at
			FROM order_view ORDER BY order_id`)
		if strings.Join(got, "\n") == strings.Join(want, "\n") {
			break
		}
		if time.Now().After(deadline) || proj.exited() {
			t.Fatalf("order_view has %d rows, the source %d orders; first difference: %s\nprojection-service output:\n%s",
				len(got), len(want), firstDiff(got, want), proj.output())
		}
		time.Sleep(500 * time.Millisecond)
	}
	t.Logf("figures: source_changes=%d orders=%d order_view_rows=%d view_rows_at_projection_kill=%d",
		4*perPhase+5*customers, len(want), len(got), atKill)
	if code := sl.Interrupt(60 * time.Second); code != 0 {
		t.Errorf("sluice graceful stop exit code %d", code)
	}
	if code := proj.interrupt(); code != 0 {
		t.Errorf("projection-service graceful stop exit code %d; output:\n%s", code, proj.output())
	}
}

// extraDB creates a second database beside the test's and returns its
// DSN and a connection.
func extraDB(t *testing.T, dsn, name string) (string, *pgx.Conn) {
	t.Helper()
	ctx := context.Background()
	admin, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close(ctx)
	exec(t, admin, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)")
	exec(t, admin, "CREATE DATABASE "+name)
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Database = name
	viewDSN := strings.Replace(dsn, "/"+admin.Config().Database, "/"+name, 1)
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	return viewDSN, conn
}

func orderView(ctx context.Context, t *testing.T, db *pgx.Conn, query string) []string {
	t.Helper()
	rows, err := db.Query(ctx, query)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var id, customer int64
		var cname *string
		var status, total string
		var placed time.Time
		if err := rows.Scan(&id, &customer, &cname, &status, &total, &placed); err != nil {
			t.Fatal(err)
		}
		n := "NULL"
		if cname != nil {
			n = *cname
		}
		out = append(out, fmt.Sprintf("%d|%d|%s|%s|%s|%s", id, customer, n, status, total, placed.UTC().Format(time.RFC3339Nano)))
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

func waitViewRows(ctx context.Context, t *testing.T, db *pgx.Conn, n int) {
	t.Helper()
	for {
		var c int
		if err := db.QueryRow(ctx, "SELECT count(*) FROM order_view").Scan(&c); err == nil && c >= n {
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("order_view did not reach %d rows: %v", n, ctx.Err())
		case <-time.After(200 * time.Millisecond):
		}
	}
}

func firstDiff(got, want []string) string {
	for i := 0; i < len(got) || i < len(want); i++ {
		var g, w string
		if i < len(got) {
			g = got[i]
		}
		if i < len(want) {
			w = want[i]
		}
		if g != w {
			return fmt.Sprintf("row %d: got %q, want %q", i, g, w)
		}
	}
	return "none"
}

// buildExample builds a command of the module into the test's temp dir.
func buildExample(t *testing.T, pkg string) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), filepath.Base(pkg))
	cmd := osexec.Command("go", "build", "-o", bin, pkg)
	cmd.Dir = ".."
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build %s: %v\n%s", pkg, err, out)
	}
	return bin
}

// exampleProc is a running example command.
type exampleProc struct {
	cmd  *osexec.Cmd
	mu   sync.Mutex
	out  bytes.Buffer
	done chan struct{}
}

func (p *exampleProc) Write(b []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.out.Write(b)
}

func (p *exampleProc) output() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.out.String()
}

func startExample(t *testing.T, bin string, args ...string) *exampleProc {
	t.Helper()
	p := &exampleProc{cmd: osexec.Command(bin, args...), done: make(chan struct{})}
	p.cmd.Stdout, p.cmd.Stderr = p, p
	p.cmd.Env = os.Environ()
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { _ = p.cmd.Wait(); close(p.done) }()
	t.Cleanup(p.kill)
	return p
}

func (p *exampleProc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// kill sends SIGKILL and waits for the process to die.
func (p *exampleProc) kill() {
	_ = p.cmd.Process.Signal(syscall.SIGKILL)
	<-p.done
}

// interrupt sends SIGINT and returns the exit code.
func (p *exampleProc) interrupt() int {
	_ = p.cmd.Process.Signal(syscall.SIGINT)
	select {
	case <-p.done:
	case <-time.After(60 * time.Second):
		p.kill()
	}
	return p.cmd.ProcessState.ExitCode()
}
