# shellcheck shell=bash
# Built artefacts: Go binaries and image tarballs, cached under $LAB_CACHE/<name>-<version>/.
# Each entry is assembled in a temporary directory next to it and renamed into place
# only when complete, so the cache never holds a half-built entry.

# cache_entry NAME VERSION -> path of the cache directory
cache_entry() { printf '%s/%s-%s' "$LAB_CACHE" "$1" "$2"; }

# Publish a finished temporary directory as a cache entry (atomic rename).
cache_publish() {
  local tmp=$1 dest=$2
  touch "$tmp/.complete"
  if [ -e "$dest" ]; then
    rm -rf "$dest"   # a stale entry without .complete, from an older, interrupted layout
  fi
  mv -T "$tmp" "$dest"
}

need_go() {
  command -v go >/dev/null 2>&1 || missing "the Go toolchain (\`go\`) is needed to build $1 on a cold cache"
}

# go_module_build NAME VERSION MODULE LDFLAGS PACKAGE... : build the packages of a Go module
# at a tagged version, the way its own repository builds them (its go.mod and go.sum are
# the main module, so its replace/exclude directives apply), statically (CGO_ENABLED=0).
# Binaries end up in $LAB_CACHE/NAME-VERSION/bin/.
go_module_build() {
  local name=$1 version=$2 module=$3 ldflags=$4
  shift 4
  local dest
  dest=$(cache_entry "$name" "$version")
  [ -f "$dest/.complete" ] && return 0
  need_go "$name $version"
  local t0 tmp src log
  t0=$(now)
  mkdir -p "$LAB_CACHE" "$LAB_LOGS"
  log=$LAB_LOGS/build-$name-$version.log
  tmp=$(mktemp -d "$LAB_CACHE/.tmp-$name-XXXXXX")
  note "building $name $version from Go module $module (log: $log)"
  if ! go mod download -json "$module@$version" >"$tmp/module.json" 2>>"$log"; then
    cat "$tmp/module.json" >>"$log"
    tail -n 15 "$log" >&2
    rm -rf "$tmp"
    die "cannot download Go module $module@$version (log: $log)"
  fi
  src=$(sed -n 's/^[[:space:]]*"Dir": "\(.*\)",\{0,1\}$/\1/p' "$tmp/module.json")
  [ -d "$src" ] || { rm -rf "$tmp"; die "go mod download gave no source directory for $module@$version"; }
  mkdir -p "$tmp/src" "$tmp/bin"
  cp -a "$src/." "$tmp/src/"
  chmod -R u+w "$tmp/src"
  if ! (cd "$tmp/src" && CGO_ENABLED=0 GOFLAGS=-buildvcs=false go build -trimpath -ldflags "-s -w $ldflags" -o "$tmp/bin/" "$@") >>"$log" 2>&1; then
    tail -n 15 "$log" >&2
    rm -rf "$tmp"
    die "go build of $module@$version failed (log: $log)"
  fi
  rm -rf "$tmp/src" "$tmp/module.json"
  cache_publish "$tmp" "$dest"
  changed "built $name $version in $(since "$t0")s -> $dest/bin"
}

step_build_binaries() {
  # Leftovers of an interrupted earlier run (the lab lock keeps runs from overlapping).
  rm -rf "$LAB_CACHE"/.tmp-*
  go_module_build kamal-proxy "$KAMAL_PROXY_VERSION" github.com/basecamp/kamal-proxy "" ./cmd/kamal-proxy
  go_module_build buildkit "$BUILDKIT_VERSION" github.com/moby/buildkit \
    "-X github.com/moby/buildkit/version.Version=$BUILDKIT_VERSION -X github.com/moby/buildkit/version.Package=github.com/moby/buildkit" \
    ./cmd/buildkitd ./cmd/buildctl
  go_module_build buildx "$BUILDX_VERSION" github.com/docker/buildx \
    "-X github.com/docker/buildx/version.Version=$BUILDX_VERSION -X github.com/docker/buildx/version.Package=github.com/docker/buildx" \
    ./cmd/buildx
}

# buildx as a Docker CLI plugin, where every CLI on the machine finds it (also the CLI
# that runs in a test host's namespace).
BUILDX_PLUGIN=/usr/local/lib/docker/cli-plugins/docker-buildx
step_buildx_plugin() {
  local built
  built=$(cache_entry buildx "$BUILDX_VERSION")/bin/buildx
  if [ -x "$BUILDX_PLUGIN" ] && cmp -s "$built" "$BUILDX_PLUGIN"; then
    return 0
  fi
  mkdir -p "$(dirname "$BUILDX_PLUGIN")"
  install -m 0755 "$built" "$BUILDX_PLUGIN.tmp"
  mv -f "$BUILDX_PLUGIN.tmp" "$BUILDX_PLUGIN"
  changed "installed buildx $BUILDX_VERSION as $BUILDX_PLUGIN"
}

# --- images -------------------------------------------------------------------------
# Images are made without any registry: a root filesystem tree is packed with tar
# (fixed order, fixed mtimes) and `docker import`ed with its metadata. The result is
# saved (`docker save`) into the cache, and every engine loads that same tarball, so
# the image ID is the same everywhere.

IMAGE_BASE=berth-lab/base:$BASE_IMAGE_TAG
IMAGE_KAMAL_PROXY=basecamp/kamal-proxy:$KAMAL_PROXY_VERSION
IMAGE_BUILDKIT=moby/buildkit:buildx-stable-1
IMAGE_BUILDKIT_VERSIONED=berth-lab/buildkit:$BUILDKIT_VERSION

image_cache_base() { cache_entry image-base "$BASE_IMAGE_TAG-r$IMAGE_RECIPE"; }
image_cache_kamal_proxy() { cache_entry image-kamal-proxy "$KAMAL_PROXY_VERSION-r$IMAGE_RECIPE"; }
image_cache_buildkit() { cache_entry image-buildkit "$BUILDKIT_VERSION-r$IMAGE_RECIPE"; }

# A busybox userland: /bin/busybox (static) and a link per applet.
make_busybox_tree() {
  local root=$1 applet
  chmod 0755 "$root"
  mkdir -p "$root"/{bin,sbin,usr/bin,usr/sbin,etc,root,home,tmp,var/tmp,proc,sys,dev}
  chmod 1777 "$root/tmp" "$root/var/tmp"
  chmod 0700 "$root/root"
  install -m 0755 /bin/busybox "$root/bin/busybox"
  for applet in $("$root/bin/busybox" --list-full); do
    [ "$applet" = bin/busybox ] && continue
    [ -e "$root/$applet" ] || ln -s /bin/busybox "$root/$applet"
  done
  printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n' >"$root/etc/passwd"
  printf 'root:x:0:\nnogroup:x:65534:\n' >"$root/etc/group"
  printf 'hosts: files dns\n' >"$root/etc/nsswitch.conf"
}

# Copy a dynamically linked binary and the shared libraries it needs.
copy_with_libs() {
  local bin=$1 root=$2 dest=$3 lib
  install -D -m 0755 "$bin" "$root$dest"
  for lib in $(ldd "$bin" | grep -o '/[^ ]*' | sort -u); do
    install -D -m 0755 "$(readlink -f "$lib")" "$root$lib"
  done
}

# docker_import_cached CACHE_DIR TREE TAGS CHANGE... : import TREE as an image tagged
# with every tag in TAGS (space separated), save it to CACHE_DIR/image.tar.
docker_import_cached() {
  local dest=$1 tree=$2 tags=$3
  shift 3
  local tmp id tag first changes=()
  for c in "$@"; do changes+=(--change "$c"); done
  tmp=$(mktemp -d "$LAB_CACHE/.tmp-image-XXXXXX")
  tar --sort=name --mtime=@0 --numeric-owner -C "$tree" -cf "$tmp/rootfs.tar" .
  first=${tags%% *}
  id=$(docker import "${changes[@]}" "$tmp/rootfs.tar" "$first") || { rm -rf "$tmp"; die "docker import of $first failed"; }
  for tag in $tags; do docker tag "$id" "$tag"; done
  # shellcheck disable=SC2086
  docker save -o "$tmp/image.tar" $tags || { rm -rf "$tmp"; die "docker save of $first failed"; }
  rm -f "$tmp/rootfs.tar"
  printf '%s\n' "$id" >"$tmp/id"
  printf '%s\n' "$tags" >"$tmp/tags"
  cache_publish "$tmp" "$dest"
}

build_image_base() {
  local dest tree
  dest=$(image_cache_base)
  [ -f "$dest/.complete" ] && return 0
  tree=$(mktemp -d "$LAB_CACHE/.tmp-tree-XXXXXX")
  make_busybox_tree "$tree"
  docker_import_cached "$dest" "$tree" "$IMAGE_BASE" \
    'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    'CMD ["/bin/sh"]'
  rm -rf "$tree"
  changed "made $IMAGE_BASE (busybox $(dpkg-query -W -f '${Version}' busybox-static))"
}

# Like upstream's image: the binary in /usr/local/bin, a kamal-proxy user whose HOME is
# /home/kamal-proxy with ~/.config/kamal-proxy (state and certs) owned by it,
# CMD ["kamal-proxy","run"], no ENTRYPOINT, ports 80/443, the title label Kamal prunes by.
# Upstream's useradd on ubuntu:noble gives uid 1001 (1000 is `ubuntu`); the lab pins it.
build_image_kamal_proxy() {
  local dest tree
  dest=$(image_cache_kamal_proxy)
  [ -f "$dest/.complete" ] && return 0
  tree=$(mktemp -d "$LAB_CACHE/.tmp-tree-XXXXXX")
  make_busybox_tree "$tree"
  install -D -m 0755 "$(cache_entry kamal-proxy "$KAMAL_PROXY_VERSION")/bin/kamal-proxy" "$tree/usr/local/bin/kamal-proxy"
  if [ -f /etc/ssl/certs/ca-certificates.crt ]; then
    install -D -m 0644 /etc/ssl/certs/ca-certificates.crt "$tree/etc/ssl/certs/ca-certificates.crt"
  fi
  printf 'kamal-proxy:x:1001:1001::/home/kamal-proxy:/bin/sh\n' >>"$tree/etc/passwd"
  printf 'kamal-proxy:x:1001:\n' >>"$tree/etc/group"
  mkdir -p "$tree/home/kamal-proxy/.config/kamal-proxy"
  chown -R 1001:1001 "$tree/home/kamal-proxy"
  docker_import_cached "$dest" "$tree" "$IMAGE_KAMAL_PROXY" \
    'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    'USER kamal-proxy:kamal-proxy' \
    'EXPOSE 80 443' \
    'LABEL org.opencontainers.image.title=kamal-proxy' \
    "LABEL org.opencontainers.image.version=$KAMAL_PROXY_VERSION" \
    'CMD ["kamal-proxy","run"]'
  rm -rf "$tree"
  changed "made $IMAGE_KAMAL_PROXY"
}

# What buildx's docker-container driver needs: buildkitd as the entrypoint, buildctl
# (buildx talks to the daemon through `buildctl dial-stdio`), runc for RUN steps
# (Debian's binary with its libraries; runc needs cgo and libseccomp), and the state
# volume /var/lib/buildkit.
build_image_buildkit() {
  local dest tree bk
  dest=$(image_cache_buildkit)
  [ -f "$dest/.complete" ] && return 0
  bk=$(cache_entry buildkit "$BUILDKIT_VERSION")/bin
  tree=$(mktemp -d "$LAB_CACHE/.tmp-tree-XXXXXX")
  make_busybox_tree "$tree"
  install -D -m 0755 "$bk/buildkitd" "$tree/usr/bin/buildkitd"
  install -D -m 0755 "$bk/buildctl" "$tree/usr/bin/buildctl"
  copy_with_libs "$(command -v runc)" "$tree" /usr/bin/runc
  ln -s runc "$tree/usr/bin/buildkit-runc"
  mkdir -p "$tree/var/lib/buildkit" "$tree/etc/buildkit"
  docker_import_cached "$dest" "$tree" "$IMAGE_BUILDKIT $IMAGE_BUILDKIT_VERSIONED" \
    'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    'VOLUME /var/lib/buildkit' \
    "LABEL org.opencontainers.image.version=$BUILDKIT_VERSION" \
    'ENTRYPOINT ["buildkitd"]'
  rm -rf "$tree"
  changed "made $IMAGE_BUILDKIT and $IMAGE_BUILDKIT_VERSIONED (buildkit $BUILDKIT_VERSION, runc $(dpkg-query -W -f '${Version}' runc))"
}

# ensure_image_loaded DOCKER_HOST CACHE_DIR : the engine has every tag of the cached
# image, pointing at the cached image ID; load the tarball if not.
ensure_image_loaded() {
  local engine=$1 dir=$2 id tag have
  id=$(cat "$dir/id")
  for tag in $(cat "$dir/tags"); do
    have=$(docker -H "$engine" image inspect -f '{{.Id}}' "$tag" 2>/dev/null || true)
    if [ "$have" != "$id" ]; then
      docker -H "$engine" load -q -i "$dir/image.tar" >/dev/null || die "docker load of $dir/image.tar into $engine failed"
      changed "loaded $(cat "$dir/tags") into $engine"
      return 0
    fi
  done
}

step_images() {
  build_image_base
  build_image_kamal_proxy
  build_image_buildkit
  local dir
  for dir in "$(image_cache_base)" "$(image_cache_kamal_proxy)" "$(image_cache_buildkit)"; do
    ensure_image_loaded unix:///var/run/docker.sock "$dir"
  done
}
