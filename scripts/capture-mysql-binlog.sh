#!/usr/bin/env bash
# Captures a real MySQL binary log for the decoder test in
# capture/mysql/captured_test.go. Run by hand only; no test or CI runs it.
#
# The files in capture/mysql/testdata were made by this script with MySQL
# 9.7.4 (Debian sid's mysql-server-core 9.7.4-2, source mysql-9.7):
#
#   mysql-json-gtid.sql       the statements (input of this script)
#   mysql-json-gtid.binlog    the binary log they wrote
#   mysql-json-gtid.expected  the server's text of the rows (SELECT output)
#
# The decoder of MySQL's binary JSON and GTIDs (uuid:n, uuid:tag:n) is
# tested on these bytes without a server; the integration tests also stream
# from a live MySQL (integration/mysql_servers_test.go).
#
# Debian 12 has no MySQL server, and sid's needs a newer libc and
# libstdc++. Nothing is installed into the system: scripts/install-mysql.sh
# unpacks sid's server and client with their libraries into a private
# directory, and they run through sid's own dynamic loader.
#
# Usage: scripts/capture-mysql-binlog.sh
#   CAPTURE_DIR    work directory (default /tmp/sluice-mysql-capture; the
#                  unpacked server is kept there for a second run)
#   DEBIAN_MIRROR  default http://deb.debian.org/debian
#   PORT           loopback port for mysqld (default 33097)
#   KEEP=1         leave mysqld running and the data directory in place
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
TESTDATA=$REPO/capture/mysql/testdata
NAME=mysql-json-gtid
CAPTURE_DIR=${CAPTURE_DIR:-/tmp/sluice-mysql-capture}
DEBIAN_MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
PORT=${PORT:-33097}

log() { printf 'capture-mysql-binlog: %s\n' "$*" >&2; }
die() { log "$*"; exit 1; }

DATA=$CAPTURE_DIR/data
RUN=$CAPTURE_DIR/run
mkdir -p "$RUN"

# 1. sid's server and client, unpacked.
MYSQL_CLIENT=1 bash "$REPO/scripts/install-mysql.sh" "$CAPTURE_DIR/mysql"
ROOT=$CAPTURE_DIR/mysql/root

LOADER=$ROOT/usr/lib64/ld-linux-x86-64.so.2
LIBS=$ROOT/usr/lib/x86_64-linux-gnu:$ROOT/lib/x86_64-linux-gnu
run() { "$LOADER" --library-path "$LIBS" "$@"; }
mysqld() { run "$ROOT/usr/sbin/mysqld" "$@"; }
client() { run "$ROOT/usr/bin/mysql" --no-defaults --socket="$RUN/mysqld.sock" -uroot "$@"; }
log "$(mysqld --version)"

# 2. A new server: binlog in ROW format with full images and metadata,
# GTIDs on.
USER_OPT=()
[ "$(id -u)" = 0 ] && USER_OPT=(--user=root)
COMMON=(--no-defaults "${USER_OPT[@]}" --basedir="$ROOT/usr" --lc-messages-dir="$ROOT/usr/share/mysql"
	--plugin-dir="$ROOT/usr/lib/mysql/plugin" --datadir="$DATA" --log-error="$RUN/error.log"
	--secure-file-priv="$RUN")
if [ -e "$RUN/mysqld.pid" ] && kill -0 "$(cat "$RUN/mysqld.pid")" 2>/dev/null; then
	die "a mysqld from an earlier run is still running (pid $(cat "$RUN/mysqld.pid")); stop it first"
fi
rm -rf "$DATA" "$RUN"/*
mysqld "${COMMON[@]}" --initialize-insecure || { cat "$RUN/error.log" >&2; die "mysqld --initialize failed"; }
mysqld "${COMMON[@]}" --socket="$RUN/mysqld.sock" --pid-file="$RUN/mysqld.pid" \
	--port="$PORT" --bind-address=127.0.0.1 --mysqlx=OFF --skip-name-resolve \
	--server-id=97 --log-bin=binlog --binlog-format=ROW --binlog-row-image=FULL \
	--binlog-row-metadata=FULL --gtid-mode=ON --enforce-gtid-consistency=ON \
	--character-set-server=utf8mb4 --default-time-zone=+00:00 &
MYSQLD_PID=$!
stop() {
	if [ "${KEEP:-}" != 1 ] && kill -0 "$MYSQLD_PID" 2>/dev/null; then
		kill "$MYSQLD_PID"
		wait "$MYSQLD_PID" || true
	fi
}
trap stop EXIT
for _ in $(seq 120); do
	client -e 'SELECT 1' >/dev/null 2>&1 && break
	kill -0 "$MYSQLD_PID" 2>/dev/null || { cat "$RUN/error.log" >&2; die "mysqld exited"; }
	sleep 0.5
done
client -e 'SELECT 1' >/dev/null || die "mysqld does not answer"

# 3. The statements, from an empty binlog; the file is closed by the flush.
VERSION=$(client -N -B -e 'SELECT @@version')
client -e 'RESET BINARY LOGS AND GTIDS'
{
	printf 'version\t%s\n' "$VERSION"
	client -N -B -r --default-character-set=utf8mb4 <"$TESTDATA/$NAME.sql"
	printf 'gtid_executed\t%s\n' "$(client -N -B -e 'SELECT @@gtid_executed' | tr -d '\n')"
	printf 'server_uuid\t%s\n' "$(client -N -B -e 'SELECT @@server_uuid')"
} >"$CAPTURE_DIR/$NAME.expected"
client -e 'FLUSH BINARY LOGS'
cp "$DATA/binlog.000001" "$TESTDATA/$NAME.binlog"
cp "$CAPTURE_DIR/$NAME.expected" "$TESTDATA/$NAME.expected"
chmod 644 "$TESTDATA/$NAME.binlog" "$TESTDATA/$NAME.expected"
log "MySQL $VERSION wrote $(stat -c %s "$TESTDATA/$NAME.binlog") bytes to $TESTDATA/$NAME.binlog"

if [ "${KEEP:-}" = 1 ]; then
	log "mysqld left running: pid $MYSQLD_PID, port $PORT, socket $RUN/mysqld.sock"
else
	stop
	rm -rf "$DATA"
fi
