# shellcheck shell=bash
# Accessory images for the real tier: Postgres and Redis from Debian bookworm's own
# `postgresql` and `redis-server` packages. Nothing can be pulled here, so each image is a
# minimal Debian made with debootstrap from the machine's apt mirror, the package installed
# with apt in a chroot, then `docker import`ed and cached like the other lab images
# ($LAB_CACHE/image-<name>-<tag>-r<recipe>/). A warm `lab up` only checks the cache, the
# root engine and the registry. The lab hosts pull them from 10.77.0.1:5000.
#
#   berth-lab/postgres:1   ENTRYPOINT berth-postgres-entrypoint, CMD postgres. On first start
#                          it runs initdb in $PGDATA (/var/lib/postgresql/data) with
#                          POSTGRES_PASSWORD (required), POSTGRES_USER (postgres) and
#                          POSTGRES_DB, listens on every address, password (scram) auth
#                          over TCP, then runs postgres as the `postgres` user. Any other
#                          command runs as given (e.g. `psql`, `pg_isready`).
#   berth-lab/redis:1      ENTRYPOINT berth-redis-entrypoint, CMD redis-server on 0.0.0.0
#                          with its data (append-only file) in /data, as the `redis` user.
#                          `redis-cli` is in the image.

ACCESSORY_IMAGE_TAG=1
# Bump when the recipe below changes, so cached tarballs of the old recipe are not reused.
ACCESSORY_IMAGE_RECIPE=1
ACCESSORY_DEBIAN_SUITE=bookworm
ACCESSORY_DEBIAN_MIRROR=${BERTH_LAB_DEBIAN_MIRROR:-http://deb.debian.org/debian}

IMAGE_POSTGRES=berth-lab/postgres:$ACCESSORY_IMAGE_TAG
IMAGE_REDIS=berth-lab/redis:$ACCESSORY_IMAGE_TAG

image_cache_postgres() { cache_entry image-postgres "$ACCESSORY_IMAGE_TAG-r$ACCESSORY_IMAGE_RECIPE"; }
image_cache_redis() { cache_entry image-redis "$ACCESSORY_IMAGE_TAG-r$ACCESSORY_IMAGE_RECIPE"; }

# debootstrap, from the machine's apt sources, when it is not installed.
need_debootstrap() {
  command -v debootstrap >/dev/null 2>&1 && return 0
  local log=$LAB_LOGS/apt.log
  mkdir -p "$LAB_LOGS"
  note "installing debootstrap (to build the accessory images)"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends debootstrap >>"$log" 2>&1 ||
    { apt-get update -q >>"$log" 2>&1 && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends debootstrap >>"$log" 2>&1; } ||
    { tail -n 20 "$log" >&2; die "apt-get install debootstrap failed (log: $log)"; }
  changed "installed debootstrap"
}

# A minimal Debian tree (debootstrap --variant=minbase) in $ACCESSORY_DEBIAN_TREE, made
# at most once per `lab up` and removed at the end of the step.
ACCESSORY_DEBIAN_TREE=""
debian_tree() {
  local log=$LAB_LOGS/debootstrap.log t0
  if [ -n "$ACCESSORY_DEBIAN_TREE" ] && [ -f "$ACCESSORY_DEBIAN_TREE/etc/debian_version" ]; then
    return 0
  fi
  mkdir -p "$LAB_LOGS" "$LAB_CACHE"
  need_debootstrap
  t0=$(now)
  ACCESSORY_DEBIAN_TREE=$(mktemp -d "$LAB_CACHE/.tmp-debian-XXXXXX")
  note "debootstrap $ACCESSORY_DEBIAN_SUITE (minbase) from $ACCESSORY_DEBIAN_MIRROR (log: $log)"
  if ! debootstrap --variant=minbase "$ACCESSORY_DEBIAN_SUITE" "$ACCESSORY_DEBIAN_TREE" "$ACCESSORY_DEBIAN_MIRROR" >>"$log" 2>&1; then
    tail -n 20 "$log" >&2
    rm -rf "$ACCESSORY_DEBIAN_TREE"
    die "debootstrap $ACCESSORY_DEBIAN_SUITE failed (log: $log)"
  fi
  note "debootstrap done in $(since "$t0")s"
}

# chroot_install TREE PACKAGE... : apt-get install in the tree, with services kept from starting.
chroot_install() {
  local tree=$1 log=$LAB_LOGS/accessory-images.log rc=0
  shift
  printf '#!/bin/sh\nexit 101\n' >"$tree/usr/sbin/policy-rc.d"
  chmod 0755 "$tree/usr/sbin/policy-rc.d"
  cp /etc/resolv.conf "$tree/etc/resolv.conf" 2>/dev/null || true
  mount -t proc proc "$tree/proc"
  chroot "$tree" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin DEBIAN_FRONTEND=noninteractive LANG=C.UTF-8 \
    sh -c 'apt-get update -q && apt-get install -y -q --no-install-recommends "$@"' sh "$@" >>"$log" 2>&1 || rc=$?
  umount "$tree/proc"
  if ((rc != 0)); then
    tail -n 20 "$log" >&2
    die "apt-get install $* in the Debian tree failed (log: $log)"
  fi
  rm -f "$tree/usr/sbin/policy-rc.d"
}

# Drop what an image does not need (apt lists and caches, docs, man pages, locales).
slim_tree() {
  local tree=$1
  rm -rf "$tree"/var/lib/apt/lists/* "$tree"/var/cache/apt/* "$tree"/var/cache/debconf/*-old \
    "$tree"/usr/share/doc/* "$tree"/usr/share/man/* "$tree"/usr/share/info/* "$tree"/var/log/*.log \
    "$tree"/var/log/apt/* "$tree"/tmp/* "$tree"/var/tmp/*
  find "$tree/usr/share/locale" -mindepth 1 -maxdepth 1 ! -name 'locale.alias' -exec rm -rf {} + 2>/dev/null || true
  : >"$tree/etc/resolv.conf"
  printf 'berth-accessory\n' >"$tree/etc/hostname"
}

write_postgres_entrypoint() {
  cat >"$1/usr/local/bin/berth-postgres-entrypoint" <<'EOF'
#!/bin/sh
# The lab's Postgres entrypoint (like the official image's, in small). `postgres` [args]:
# initialise $PGDATA on first start, then run the server as the postgres user. Anything
# else runs as given.
set -eu
PGBIN=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)
export PATH="$PGBIN:$PATH"
: "${PGDATA:=/var/lib/postgresql/data}"
export PGDATA
if [ "${1:-postgres}" != postgres ]; then exec "$@"; fi
[ $# -gt 0 ] && shift
if [ "$(id -u)" = 0 ]; then
  mkdir -p "$PGDATA" /run/postgresql
  [ "$(stat -c %U "$PGDATA")" = postgres ] || chown -R postgres:postgres "$PGDATA"
  chown postgres:postgres /run/postgresql
  chmod 0700 "$PGDATA"
  exec setpriv --reuid=postgres --regid=postgres --init-groups "$0" postgres "$@"
fi
if [ ! -s "$PGDATA/PG_VERSION" ]; then
  if [ -z "${POSTGRES_PASSWORD:-}" ]; then echo "berth-postgres: set POSTGRES_PASSWORD" >&2; exit 1; fi
  pwfile=$(mktemp)
  printf '%s\n' "$POSTGRES_PASSWORD" >"$pwfile"
  initdb -D "$PGDATA" -U "${POSTGRES_USER:-postgres}" --pwfile="$pwfile" --auth-local=trust --auth-host=scram-sha-256 --encoding=UTF8 --locale=C.UTF-8
  rm -f "$pwfile"
  printf "listen_addresses = '*'\n" >>"$PGDATA/postgresql.conf"
  printf 'host all all all scram-sha-256\n' >>"$PGDATA/pg_hba.conf"
  if [ -n "${POSTGRES_DB:-}" ] && [ "$POSTGRES_DB" != "${POSTGRES_USER:-postgres}" ]; then
    printf 'CREATE DATABASE "%s";\n' "$POSTGRES_DB" | postgres --single -D "$PGDATA" -j postgres >/dev/null
  fi
  echo "berth-postgres: initialised $PGDATA"
fi
exec postgres -D "$PGDATA" "$@"
EOF
  chmod 0755 "$1/usr/local/bin/berth-postgres-entrypoint"
}

write_redis_entrypoint() {
  cat >"$1/usr/local/bin/berth-redis-entrypoint" <<'EOF'
#!/bin/sh
# The lab's Redis entrypoint: `redis-server` [args] runs as the redis user in /data.
# Anything else runs as given (e.g. `redis-cli`).
set -eu
if [ "${1:-}" = redis-server ] && [ "$(id -u)" = 0 ]; then
  mkdir -p /data
  [ "$(stat -c %U /data)" = redis ] || chown -R redis:redis /data
  cd /data
  exec setpriv --reuid=redis --regid=redis --init-groups "$@"
fi
exec "$@"
EOF
  chmod 0755 "$1/usr/local/bin/berth-redis-entrypoint"
}

build_image_postgres() {
  local dest tree
  dest=$(image_cache_postgres)
  [ -f "$dest/.complete" ] && return 0
  tree=$(mktemp -d "$LAB_CACHE/.tmp-tree-XXXXXX")
  debian_tree
  cp -a "$ACCESSORY_DEBIAN_TREE/." "$tree/"
  chroot_install "$tree" postgresql
  # The package makes a `main` cluster; the image's entrypoint makes its own in $PGDATA.
  chroot "$tree" sh -c 'for v in /etc/postgresql/*/main; do [ -d "$v" ] && pg_dropcluster "$(basename "$(dirname "$v")")" main; done; true' >>"$LAB_LOGS/accessory-images.log" 2>&1
  mkdir -p "$tree/var/lib/postgresql/data" "$tree/run/postgresql"
  write_postgres_entrypoint "$tree"
  local version
  version=$(chroot "$tree" dpkg-query -W -f '${Version}' postgresql)
  slim_tree "$tree"
  docker_import_cached "$dest" "$tree" "$IMAGE_POSTGRES" \
    'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    'ENV PGDATA=/var/lib/postgresql/data' \
    'ENV LANG=C.UTF-8' \
    'EXPOSE 5432' \
    "LABEL org.opencontainers.image.version=$version" \
    'LABEL org.opencontainers.image.description="Debian bookworm postgresql, built by the Berth lab"' \
    'ENTRYPOINT ["berth-postgres-entrypoint"]' \
    'CMD ["postgres"]'
  rm -rf "$tree"
  changed "made $IMAGE_POSTGRES (Debian postgresql $version)"
}

build_image_redis() {
  local dest tree
  dest=$(image_cache_redis)
  [ -f "$dest/.complete" ] && return 0
  tree=$(mktemp -d "$LAB_CACHE/.tmp-tree-XXXXXX")
  debian_tree
  cp -a "$ACCESSORY_DEBIAN_TREE/." "$tree/"
  chroot_install "$tree" redis-server
  mkdir -p "$tree/data"
  chroot "$tree" chown redis:redis /data
  write_redis_entrypoint "$tree"
  local version
  version=$(chroot "$tree" dpkg-query -W -f '${Version}' redis-server)
  slim_tree "$tree"
  docker_import_cached "$dest" "$tree" "$IMAGE_REDIS" \
    'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    'ENV LANG=C.UTF-8' \
    'EXPOSE 6379' \
    "LABEL org.opencontainers.image.version=$version" \
    'LABEL org.opencontainers.image.description="Debian bookworm redis-server, built by the Berth lab"' \
    'ENTRYPOINT ["berth-redis-entrypoint"]' \
    'CMD ["redis-server","--bind","0.0.0.0","--protected-mode","no","--dir","/data","--appendonly","yes"]'
  rm -rf "$tree"
  changed "made $IMAGE_REDIS (Debian redis-server $version)"
}

# Built (once, cached), in the root engine (so tests can build FROM them), and in the
# plain registry as 10.77.0.1:5000/berth-lab/{postgres,redis}:1 (the hosts pull them).
step_accessory_images() {
  build_image_postgres
  build_image_redis
  if [ -n "$ACCESSORY_DEBIAN_TREE" ]; then
    rm -rf "$ACCESSORY_DEBIAN_TREE"
    ACCESSORY_DEBIAN_TREE=""
  fi
  local dir
  for dir in "$(image_cache_postgres)" "$(image_cache_redis)"; do
    ensure_image_loaded unix:///var/run/docker.sock "$dir"
    push_cached_image "$dir"
  done
}
