#!/usr/bin/env bash
# Installs the consumer clients that integration/consumers_test.go runs, from
# PyPI and npm only, at the versions pinned in integration/consumers/:
#
#   - Python confluent-kafka with its schema-registry and Avro (fastavro)
#     extras, wheels only, in a venv:
#     $SLUICE_CACHE/consumers-python-<hash of requirements.txt>/
#     The confluent-kafka manylinux wheel bundles librdkafka; the script
#     checks that the extension loads it from the wheel, not from the system.
#   - Node kafkajs, @kafkajs/confluent-schema-registry and avsc, from
#     package-lock.json:
#     $SLUICE_CACHE/consumers-node-<hash of package.json and package-lock.json>/node_modules
#
# The hashes name the directories so that a changed pin installs anew;
# testenv.ConsumerPython and testenv.ConsumerNodeModules compute the same
# names. Python 3 with venv and Node (>= 18) with npm come from apt when
# missing. Idempotent: a second run only checks and prints what is installed.
# Called by install-deps.sh (make deps).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
SLUICE_CACHE=${SLUICE_CACHE:-$HOME/.cache/sluice-test}
CDIR=$ROOT/integration/consumers

log() { printf '%s\n' "$*"; }
die() { printf 'install-consumers: %s\n' "$*" >&2; exit 1; }

key_of() { cat "$@" | sha256sum | cut -c1-12; }

SUDO=()
if [ "$(id -u)" -ne 0 ]; then SUDO=(sudo); fi

# ------------------------------------------------------------------ apt ----
APT=()
{ command -v python3 >/dev/null && python3 -c 'import venv, ensurepip' 2>/dev/null; } || APT+=(python3 python3-venv)
{ command -v node >/dev/null && command -v npm >/dev/null; } || APT+=(nodejs npm)
if [ "${#APT[@]}" -gt 0 ]; then
	log "apt: installing ${APT[*]}"
	"${SUDO[@]}" apt-get update -qq
	"${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${APT[@]}" >/dev/null
fi
NODE_MAJOR=$(node -p 'process.versions.node.split(".")[0]')
[ "$NODE_MAJOR" -ge 18 ] || die "need Node >= 18 (found $(node --version))"

# --------------------------------------------------------------- python ----
PYDIR=$SLUICE_CACHE/consumers-python-$(key_of "$CDIR/requirements.txt")
if [ ! -f "$PYDIR/.complete" ]; then
	log "python: installing $CDIR/requirements.txt from PyPI into $PYDIR"
	rm -rf "$PYDIR"
	mkdir -p "$SLUICE_CACHE"
	python3 -m venv "$PYDIR"
	out=$(mktemp)
	if ! "$PYDIR/bin/pip" install --disable-pip-version-check --no-input --only-binary=:all: \
		-r "$CDIR/requirements.txt" >"$out" 2>&1; then
		cat "$out" >&2
		rm -f "$out"
		die "pip install failed (output above)"
	fi
	rm -f "$out"
	# librdkafka must come from the wheel (confluent_kafka.libs), never from a
	# system library that may be missing or of another version.
	ext=$("$PYDIR/bin/python" -c 'import confluent_kafka.cimpl as c; print(c.__file__)')
	rdk=$(ldd "$ext" | awk '/librdkafka/ {print $3}')
	case "$rdk" in
	"$PYDIR"/*) ;;
	*) die "confluent-kafka's extension $ext loads librdkafka from '${rdk:-nowhere}', not from its wheel" ;;
	esac
	touch "$PYDIR/.complete"
fi
log "python: $("$PYDIR/bin/python" -c 'import sys, importlib.metadata, confluent_kafka, fastavro
print("confluent-kafka %s (librdkafka %s, bundled), fastavro %s, Python %s" % (
    importlib.metadata.version("confluent-kafka"), confluent_kafka.libversion()[0], fastavro.__version__, sys.version.split()[0]))') in $PYDIR"

# ----------------------------------------------------------------- node ----
NDIR=$SLUICE_CACHE/consumers-node-$(key_of "$CDIR/package.json" "$CDIR/package-lock.json")
if [ ! -f "$NDIR/.complete" ]; then
	log "node: installing $CDIR/package-lock.json from npm into $NDIR"
	rm -rf "$NDIR"
	mkdir -p "$NDIR"
	cp "$CDIR/package.json" "$CDIR/package-lock.json" "$NDIR/"
	out=$(mktemp)
	if ! (cd "$NDIR" && npm ci --omit=dev --ignore-scripts --no-audit --no-fund) >"$out" 2>&1; then
		cat "$out" >&2
		rm -f "$out"
		die "npm ci failed (output above)"
	fi
	rm -f "$out"
	NODE_PATH=$NDIR/node_modules node -e 'require("kafkajs"); require("@kafkajs/confluent-schema-registry"); require("avsc")' ||
		die "the Node packages in $NDIR/node_modules do not load"
	touch "$NDIR/.complete"
fi
log "node: $(cd "$NDIR" && node -p 'const v = (p) => require(p + "/package.json").version;
`kafkajs ${v("kafkajs")}, @kafkajs/confluent-schema-registry ${v("@kafkajs/confluent-schema-registry")}, avsc ${v("avsc")}, Node ${process.versions.node}`') in $NDIR/node_modules"

