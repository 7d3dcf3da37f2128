#!/usr/bin/env bash
# make demo: a throwaway PostgreSQL, Sluice on its embedded development
# broker and registry, a few changes, and the change events printed as JSON.
# Everything runs on loopback and is removed at the end.
set -euo pipefail

SLUICE=${1:-bin/sluice}
SLUICE=$(cd "$(dirname "$SLUICE")" && pwd)/$(basename "$SLUICE")
PGBIN=${SLUICE_PG_BINDIR:-/usr/lib/postgresql/15/bin}

say() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }

if [ ! -x "$PGBIN/initdb" ]; then
	say "installing PostgreSQL 15 (apt)"
	SUDO=(); [ "$(id -u)" -eq 0 ] || SUDO=(sudo)
	"${SUDO[@]}" apt-get update -qq
	"${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends postgresql-15 postgresql-client-15 >/dev/null
fi

for port in 9092 8081; do
	if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
		echo "demo: port $port is in use; the embedded broker (9092) and registry (8081) need it" >&2
		exit 1
	fi
done

DIR=$(mktemp -d /tmp/sluice-demo.XXXXXX)
chmod 755 "$DIR"
AS=()
if [ "$(id -u)" -eq 0 ]; then
	chown postgres "$DIR"
	AS=(runuser -u postgres --)
fi
PGPORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
SLUICE_PID=
cleanup() {
	[ -z "$SLUICE_PID" ] || kill "$SLUICE_PID" 2>/dev/null || true
	"${AS[@]}" "$PGBIN/pg_ctl" -D "$DIR/data" -m immediate stop >/dev/null 2>&1 || true
	rm -rf "$DIR"
}
trap cleanup EXIT

say "starting a throwaway PostgreSQL on 127.0.0.1:$PGPORT"
"${AS[@]}" "$PGBIN/initdb" -D "$DIR/data" -A trust -U postgres >/dev/null
"${AS[@]}" "$PGBIN/pg_ctl" -D "$DIR/data" -l "$DIR/postgres.log" -w \
	-o "-p $PGPORT -k $DIR -c listen_addresses=127.0.0.1 -c wal_level=logical -c fsync=off" start >/dev/null
PSQL=(psql -X -q -h 127.0.0.1 -p "$PGPORT" -U postgres -d postgres -v ON_ERROR_STOP=1)
"${PSQL[@]}" <<'SQL'
CREATE TABLE customers (id serial PRIMARY KEY, name text NOT NULL, email text);
CREATE TABLE orders (id bigserial PRIMARY KEY, customer_id int REFERENCES customers, total numeric(10,2), placed_at timestamptz DEFAULT now());
INSERT INTO customers (name, email) VALUES ('Ada', 'ada@example.com'), ('Grace', 'grace@example.com');
INSERT INTO orders (customer_id, total) VALUES (1, 19.99), (2, 5.00);
SQL

cat >"$DIR/config.yaml" <<YAML
name: demo
source:
  type: postgres
  dsn: postgres://postgres@127.0.0.1:$PGPORT/postgres
kafka:
  brokers: []        # empty: embedded development broker on 127.0.0.1:9092
schema_registry:
  url: ""            # empty: embedded development registry on http://127.0.0.1:8081
http:
  listen: 127.0.0.1:0
YAML

say "starting sluice (embedded broker and registry; log in $DIR/sluice.log)"
"$SLUICE" run -c "$DIR/config.yaml" >"$DIR/sluice.log" 2>&1 &
SLUICE_PID=$!
for _ in $(seq 1 300); do
	grep -q 'msg=streaming' "$DIR/sluice.log" && break
	if ! kill -0 "$SLUICE_PID" 2>/dev/null; then cat "$DIR/sluice.log" >&2; exit 1; fi
	sleep 0.1
done
grep -q 'msg=streaming' "$DIR/sluice.log" || { cat "$DIR/sluice.log" >&2; exit 1; }

say "making changes: insert, update, delete"
"${PSQL[@]}" <<'SQL'
INSERT INTO orders (customer_id, total) VALUES (1, 42.00);
UPDATE customers SET email = 'ada@lovelace.dev' WHERE id = 1;
DELETE FROM orders WHERE id = 2;
SQL

say "change events (sluice tail --from-beginning demo.public.customers demo.public.orders)"
# 4 snapshot reads, 1 create, 1 update, 1 delete and its tombstone.
"$SLUICE" tail -c "$DIR/config.yaml" --from-beginning --max 8 demo.public.customers demo.public.orders

say "stopping sluice (graceful: flush, checkpoint, exit 0)"
kill -INT "$SLUICE_PID"
wait "$SLUICE_PID"
SLUICE_PID=
say "done"
