#!/usr/bin/env bash
# Installs a MySQL server for the integration tests into
# $SLUICE_CACHE/mysql-<series>/ without touching the system.
#
# Debian 12 has no MySQL server. Debian's archive carries MySQL only in sid
# (today mysql-9.7; no 8.0 or 8.4 LTS is left in any suite), and sid's
# build needs a newer libc and libstdc++ than Debian 12's. So the script
# downloads sid's mysql-server-core and its library dependencies, checks
# each against the index's SHA256, unpacks them with dpkg-deb -x into
# $SLUICE_CACHE/mysql-<series>/root, and the tests run mysqld through sid's
# own dynamic loader (integration/testenv/mysql.go reads the layout written
# here: root/, version, .complete).
#
# Usage: scripts/install-mysql.sh [OUTDIR]
#   SLUICE_CACHE   default $HOME/.cache/sluice-test
#   MYSQL_SERIES   the major version the tests expect (default 9; keep it
#                  equal to myMySQLSeries in integration/mysql_servers_test.go)
#   MYSQL_SUITE    Debian suite to take the server from (default sid)
#   MYSQL_CLIENT=1 also unpack mysql-client-core (the mysql command)
#   DEBIAN_MIRROR  default http://deb.debian.org/debian
#   OUTDIR         install there instead of $SLUICE_CACHE/mysql-<series>
#
# Idempotent: when the directory is complete, it only prints what is there.
set -euo pipefail

SLUICE_CACHE=${SLUICE_CACHE:-$HOME/.cache/sluice-test}
MYSQL_SERIES=${MYSQL_SERIES:-9}
MYSQL_SUITE=${MYSQL_SUITE:-sid}
DEBIAN_MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}

log() { printf 'install-mysql: %s\n' "$*" >&2; }
die() { log "$*"; exit 1; }

run_mysqld_version() { # DIR
	"$1/root/usr/lib64/ld-linux-x86-64.so.2" \
		--library-path "$1/root/usr/lib/x86_64-linux-gnu:$1/root/lib/x86_64-linux-gnu" \
		"$1/root/usr/sbin/mysqld" --version
}

# Already installed?
if [ -n "${1:-}" ]; then
	DIRS=("$1")
else
	DIRS=("$SLUICE_CACHE/mysql-$MYSQL_SERIES")
fi
for d in "${DIRS[@]}"; do
	if [ -f "$d/.complete" ]; then
		log "$(run_mysqld_version "$d" | sed 's/^.*Ver /Ver /') in $d"
		exit 0
	fi
done

for tool in curl xz dpkg-deb sha256sum python3; do
	command -v "$tool" >/dev/null || die "needs $tool"
done
[ "$(dpkg --print-architecture)" = amd64 ] || die "only amd64 is supported"

WORK=$(mktemp -d "${TMPDIR:-/tmp}/install-mysql.XXXXXX")
trap 'rm -rf "$WORK"' EXIT

log "downloading $MYSQL_SUITE's package index"
curl -fsS "$DEBIAN_MIRROR/dists/$MYSQL_SUITE/main/binary-amd64/Packages.xz" | xz -dc >"$WORK/Packages"

PKGS=(mysql-server-core)
[ "${MYSQL_CLIENT:-}" = 1 ] && PKGS+=(mysql-client-core)

# The dependency closure (first alternative of each dependency; perl and
# packaging tools are not needed to run the server).
python3 - "$WORK/Packages" "${PKGS[@]}" >"$WORK/packages.txt" <<'EOF'
import sys
index, cur = {}, {}
def flush():
    if 'Package' in cur:
        index.setdefault(cur['Package'], dict(cur))
        for p in cur.get('Provides', '').split(','):
            p = p.strip().split(' ')[0]
            if p:
                index.setdefault('provides:' + p, dict(cur))
for line in open(sys.argv[1], encoding='utf-8'):
    line = line.rstrip('\n')
    if not line:
        flush(); cur = {}
    elif line[0] not in ' \t':
        k, _, v = line.partition(':')
        cur[k] = v.strip()
flush()
skip = {'perl', 'perl-base', 'debconf', 'libc-bin', 'dpkg', 'tar', 'install-info',
        'mysql-common', 'base-files'}
todo, seen = list(sys.argv[2:]), []
while todo:
    name = todo.pop(0)
    if name in skip or name.startswith('gcc-') and name.endswith('-base'):
        continue
    rec = index.get(name) or index.get('provides:' + name)
    if rec is None:
        sys.exit('no package ' + name + ' in the index')
    if rec['Package'] in seen:
        continue
    seen.append(rec['Package'])
    for field in ('Pre-Depends', 'Depends'):
        for dep in rec.get(field, '').split(','):
            dep = dep.strip()
            if dep:
                todo.append(dep.split('|')[0].strip().split(' ')[0].split(':')[0])
for name in seen:
    r = index[name]
    print(name, r['Version'], r['Filename'], r['SHA256'])
EOF
read -r _ VERSION _ <"$WORK/packages.txt"
SERIES=$(printf '%s' "$VERSION" | cut -d. -f1)
if [ -z "${1:-}" ] && [ "$SERIES" != "$MYSQL_SERIES" ]; then
	die "$MYSQL_SUITE now has MySQL $VERSION, not $MYSQL_SERIES.x: set MYSQL_SERIES in scripts/install-mysql.sh and myMySQLSeries in integration/mysql_servers_test.go to $SERIES"
fi
OUT=${1:-$SLUICE_CACHE/mysql-$SERIES}
log "$(wc -l <"$WORK/packages.txt") packages, mysql-server-core $VERSION -> $OUT"

rm -rf "$OUT"
mkdir -p "$OUT/root" "$OUT/debs"
while read -r _ _ file sha; do
	deb=$OUT/debs/$(basename "$file")
	curl -fsS -o "$deb" "$DEBIAN_MIRROR/$file"
	echo "$sha  $deb" | sha256sum -c --quiet || die "checksum mismatch: $file"
	dpkg-deb -x "$deb" "$OUT/root"
done <"$WORK/packages.txt"
rm -rf "$OUT/debs"
cp "$WORK/packages.txt" "$OUT/packages.txt"

# Check that the server runs here before declaring the install complete.
V=$(run_mysqld_version "$OUT") || die "mysqld from $MYSQL_SUITE does not run on this machine"
printf '%s\n' "$V" | sed -n 's/.*Ver \([0-9][0-9.]*\).*/\1/p' >"$OUT/version"
[ -s "$OUT/version" ] || die "cannot read the version from: $V"
touch "$OUT/.complete"
log "$(printf '%s' "$V" | sed 's/^.*Ver /Ver /') in $OUT"
