#!/usr/bin/env bash
# Build and cache everything rayop's real-node test tier needs, outside the repository:
#   ${RAYOP_CACHE:-$HOME/.cache/rayop}/realnode/
#     bin/{kubelet,kube-scheduler,kube-proxy,coredns}   from tests/realnode/{go,coredns}/go.mod
#     images/{pause,coredns,python-base,ray,rayop}.tar  docker-archives for `ctr images import`
# kube-apiserver, kube-controller-manager and etcd come from tests/realapi/prepare.sh (run first).
#
# The host packages (Debian: containerd, runc, CNI plugins, iptables, conntrack, debootstrap,
# buildah) are apt-installed when missing. Images are all built here, since no registry is
# reachable: a Debian bookworm + Python base made with debootstrap, a Ray image on it
# (`localhost/ray:<ray version of the ray extra>`), and the operator image from the project's own
# Dockerfile (`--build-arg PYTHON_IMAGE=` that base). Everything is reused when already built; the
# operator image is rebuilt when rayop's sources change (its tag carries their hash).
# Usage: tests/realnode/prepare.sh [--rebuild] [--only packages|binaries|images]
# (--only runs one stage: scripts/test.sh builds the images while Go builds the binaries.)
# Prints the cache directory on its last line.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
rebuild=0
only=all
while (( $# )); do
    case "$1" in
        --rebuild) rebuild=1 ;;
        --only) only="${2:?--only needs packages, binaries or images}"; shift ;;
        -h|--help) sed -n '2,17p' "${BASH_SOURCE[0]}"; exit 0 ;;
        *) echo "prepare.sh: unknown argument $1" >&2; exit 2 ;;
    esac
    shift
done
stage() { [[ "$only" == all || "$only" == "$1" ]]; }

cache="${RAYOP_CACHE:-$HOME/.cache/rayop}/realnode"
bin="$cache/bin"; images="$cache/images"; work="$cache/work"
mkdir -p "$bin" "$images" "$work"
log() { echo "prepare.sh: $*" >&2; }
now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }
t0="$(now)"

ray_version="$(sed -n 's/.*"ray\[[a-z,]*\]==\([0-9.]*\)".*/\1/p' "$repo/pyproject.toml" | head -1)"
[[ -n "$ray_version" ]] || { log "no ray==X.Y.Z pin in pyproject.toml's ray extra"; exit 1; }
rayop_version="$(sed -n 's/^version = "\(.*\)"/\1/p' "$repo/pyproject.toml" | head -1)"

# 1. Host packages -----------------------------------------------------------------------------
if stage packages; then
need=()
for pair in containerd:containerd runc:runc /usr/lib/cni/bridge:containernetworking-plugins \
            iptables:iptables conntrack:conntrack debootstrap:debootstrap buildah:buildah \
            nft:nftables gcc:gcc; do
    probe="${pair%%:*}"; package="${pair#*:}"
    if [[ "$probe" == /* ]]; then [[ -e "$probe" ]] || need+=("$package")
    else command -v "$probe" >/dev/null || need+=("$package"); fi
done
if (( ${#need[@]} )); then
    [[ "$(id -u)" == 0 ]] || { log "missing packages ${need[*]} and not root to install them"; exit 1; }
    start="$(now)"
    log "apt-get install ${need[*]}"
    apt-get update -qq >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >&2
    log "packages installed in $(elapsed "$start") s"
fi
fi

# Image helpers -------------------------------------------------------------------------------
# buildah keeps its own storage under the cache (vfs: works without overlay support or fuse).
B=(buildah --root "$cache/buildah/root" --runroot "$cache/buildah/run" --storage-driver vfs)
have_image() { "${B[@]}" inspect --type image "$1" >/dev/null 2>&1; }
archive() {  # archive REF FILE: write REF as a docker-archive (what `ctr images import` reads)
    local ref="$1" out="$images/$2"
    # reused only if it holds this very ref and was written after the image was last built
    if [[ -s "$out" && "$(cat "$out.holds" 2>/dev/null)" == "$ref" \
          && "$out" -nt "$cache/buildah/stamp-$2" ]]; then return 0; fi
    rm -f "$out.tmp"
    "${B[@]}" push -q "$ref" "docker-archive:$out.tmp:$ref" >&2
    mv -f "$out.tmp" "$out"
    printf '%s\n' "$ref" > "$out.holds"
}
stamp() { touch "$cache/buildah/stamp-$1"; }
mkdir -p "$cache/buildah"

from_rootfs() {  # from_rootfs REF DIR [buildah config args...]: a one-layer image of DIR's files
    local ref="$1" dir="$2"; shift 2
    local c; c="$("${B[@]}" from scratch)"
    "${B[@]}" copy "$c" "$dir" / >/dev/null
    "${B[@]}" config "$@" "$c"
    "${B[@]}" commit -q --rm "$c" "$ref" >/dev/null
}

# 2. Go binaries -------------------------------------------------------------------------------
if stage binaries; then
kube_version="$(awk '$1 == "k8s.io/kubernetes" {print $2; exit}' "$here/go/go.mod")"
gobuild() {  # gobuild NAME MODULE_DIR PACKAGE [LDFLAGS]
    local name="$1" module="$2" package="$3" ldflags="${4:--s -w}" out="$bin/$1"
    if [[ -x "$out" && "$rebuild" == 0 ]]; then return 0; fi
    command -v go >/dev/null || { log "$name: no Go toolchain on PATH"; return 1; }
    local start; start="$(now)"
    log "$name: go build (cold: minutes)"
    (cd "$module" && CGO_ENABLED=0 GOFLAGS=-mod=mod go build -trimpath -ldflags "$ldflags" \
        -o "$out.tmp" "$package") || { rm -f "$out.tmp"; log "$name: build FAILED"; return 1; }
    mv -f "$out.tmp" "$out"
    log "$name: built in $(elapsed "$start") s, $(du -m "$out" | cut -f1) MB"
    echo "$name built=$(date -u +%FT%TZ) seconds=$(elapsed "$start")" >> "$cache/BUILD-INFO"
}
major="${kube_version#v}"; major="${major%%.*}"; minor="${kube_version#v*.}"; minor="${minor%%.*}"
vpkg="k8s.io/component-base/version"
kube_ldflags="-s -w -X $vpkg.gitVersion=$kube_version -X $vpkg.gitMajor=$major"
kube_ldflags+=" -X $vpkg.gitMinor=$minor -X $vpkg.gitTreeState=clean"
kube_ldflags+=" -X $vpkg.buildDate=1970-01-01T00:00:00Z"
for name in kubelet kube-scheduler kube-proxy; do
    gobuild "$name" "$here/go" "k8s.io/kubernetes/cmd/$name" "$kube_ldflags"
done
gobuild coredns "$here/coredns" .
if ! have_image localhost/coredns:local || [[ "$bin/coredns" -nt "$cache/buildah/stamp-coredns.tar" ]]; then
    rm -rf "$work/coredns"; mkdir -p "$work/coredns"; cp "$bin/coredns" "$work/coredns/coredns"
    "${B[@]}" rmi -f localhost/coredns:local >/dev/null 2>&1 || true
    from_rootfs localhost/coredns:local "$work/coredns" --entrypoint '["/coredns"]'
    stamp coredns.tar
fi
archive localhost/coredns:local coredns.tar
printf '%s\n' "$kube_version" > "$bin/VERSION"
fi

# 3. Images ------------------------------------------------------------------------------------
if stage images; then
# pause: Kubernetes' own pause.c from the module cache, linked statically.
if ! have_image localhost/pause:local || [[ "$rebuild" == 1 ]]; then
    start="$(now)"
    # `go mod download` (not `go list -m`, whose Dir is empty until the module is in the cache:
    # on a cold machine the images stage runs before the binaries stage has fetched it)
    src="$(cd "$here/go" && GOFLAGS=-mod=mod go mod download -json k8s.io/kubernetes \
        | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')"
    [[ -f "$src/build/pause/linux/pause.c" ]] || { log "pause.c not found under '$src'"; exit 1; }
    rm -rf "$work/pause"; mkdir -p "$work/pause"
    gcc -Os -static -o "$work/pause/pause" "$src/build/pause/linux/pause.c"
    from_rootfs localhost/pause:local "$work/pause" --entrypoint '["/pause"]'
    stamp pause.tar; log "pause image in $(elapsed "$start") s"
fi
archive localhost/pause:local pause.tar


# The base: Debian bookworm minbase with Python 3.11 (the python:3.11-slim-bookworm stand-in).
base=localhost/python:3.11-bookworm
if ! have_image "$base" || [[ "$rebuild" == 1 ]]; then
    start="$(now)"
    mirror="$( { grep -h '^URIs:' /etc/apt/sources.list.d/*.sources 2>/dev/null | awk '{print $2}' || true
                 grep -h '^deb ' /etc/apt/sources.list 2>/dev/null | awk '{print $2}'; } \
               | grep -v security | head -1 || true)"
    rootfs="$work/base-rootfs"; rm -rf "$rootfs"
    log "debootstrap bookworm from ${mirror:-the default mirror}"
    debootstrap --variant=minbase \
        --include=python3,python3-venv,python3-pip,python-is-python3,ca-certificates,procps,iproute2,wget,netcat-openbsd \
        bookworm "$rootfs" ${mirror:+"$mirror"} > "$work/debootstrap.log" 2>&1 \
        || { tail -20 "$work/debootstrap.log" >&2; exit 1; }
    rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/*
    "${B[@]}" rmi -f "$base" >/dev/null 2>&1 || true
    from_rootfs "$base" "$rootfs" --cmd '["python3"]' \
        --env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin --env LANG=C.UTF-8
    rm -rf "$rootfs"
    stamp python-base.tar; log "base image $base in $(elapsed "$start") s"
fi

# Builds run with the host's network (for pip), chroot isolation (no user namespaces here) and the
# host's CA bundle mounted over the image's for RUN steps only (the package index may sit behind a
# TLS proxy whose CA only the host trusts); nothing of the host is left in the images.
cas=/etc/ssl/certs/ca-certificates.crt
bud() {
    "${B[@]}" bud -q --network host --isolation chroot --layers \
        ${cas:+--volume "$cas:$cas:ro"} "$@" >&2
}
ray_image="localhost/ray:$ray_version"
if ! have_image "$ray_image" || [[ "$rebuild" == 1 ]]; then
    start="$(now)"
    bud --build-arg BASE="$base" --build-arg RAY_VERSION="$ray_version" -t "$ray_image" \
        -f "$here/images/ray.Dockerfile" "$here/images"
    stamp ray.tar; log "Ray image $ray_image in $(elapsed "$start") s"
fi
archive "$ray_image" ray.tar

# The operator, from the project's Dockerfile; the tag names the sources it was built from.
src_hash="$(cd "$repo" && cat Dockerfile pyproject.toml README.md $(find rayop -name '*.py' -o -name '*.yaml' -o -name 'py.typed' | sort) | sha256sum | cut -c1-12)"
operator_image="localhost/rayop:$rayop_version-$src_hash"
if ! have_image "$operator_image" || [[ "$rebuild" == 1 ]]; then
    start="$(now)"
    bud --build-arg PYTHON_IMAGE="$base" -t "$operator_image" -f "$repo/Dockerfile" "$repo"
    stamp rayop.tar; log "operator image $operator_image in $(elapsed "$start") s"
fi
archive "$operator_image" rayop.tar
printf '%s\n' "$operator_image" > "$images/rayop.ref"
printf '%s\n' "$ray_image" > "$images/ray.ref"
fi

log "ready in $(elapsed "$t0") s"
echo "$cache"
