#!/usr/bin/env bash
# rayop's whole test suite, every tier, on a fresh machine:
#   1. a virtualenv (.venv, or $RAYOP_VENV) with rayop and its test and ray extras;
#   2. kubectl for the kubectl tier (Debian's kubernetes-client, when missing and apt is usable);
#   3. a real kube-apiserver + etcd built from the Kubernetes Go modules into ~/.cache/rayop
#      (tests/realapi/prepare.sh: ~7 min cold, seconds when cached), required from then on;
#   4. a real one-node Kubernetes (tests/realnode/prepare.sh: kubelet, kube-scheduler, kube-proxy,
#      CoreDNS, containerd from Debian, a Ray image and the operator image built from the
#      Dockerfile, into ~/.cache/rayop/realnode; ~12 min cold alongside step 3, seconds warm);
#   5. a real Ray head on loopback (scripts/ray-tier.sh) for the dashboard/Ray tier,
#      and one pytest run over all of tests/ with every tier switched on.
# Extra arguments go to pytest. RAYOP_TIERS=fast runs only the in-memory tiers (no Go, no Ray).
set -euo pipefail
cd "$(dirname "$0")/.."

VENV=${RAYOP_VENV:-.venv}
if [ ! -x "$VENV/bin/python" ]; then
  echo "== virtualenv $VENV"
  "${PYTHON:-python3}" -m venv "$VENV"
fi
extras="test"
[ "${RAYOP_TIERS:-all}" = fast ] || extras="test,ray"
echo "== pip install -e .[$extras]"
"$VENV/bin/pip" install -q -e ".[$extras]"
PY="$VENV/bin/python"

if [ "${RAYOP_TIERS:-all}" = fast ]; then
  # the real node changes the host (bridge, rules, cgroups) and takes minutes: never in this tier
  RAYOP_REALNODE=0 exec "$PY" -m pytest -q -p no:cacheprovider "$@"
fi

if ! command -v kubectl >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "== apt-get install kubernetes-client (kubectl)"
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq kubernetes-client) \
      >/dev/null
  fi
fi
export RAYOP_KUBECTL=require   # without kubectl its tests fail, naming it

echo "== host packages for the real node (tests/realnode/prepare.sh --only packages)"
bash tests/realnode/prepare.sh --only packages >/tmp/rayop-realnode-packages.log 2>&1 \
  || { tail -40 /tmp/rayop-realnode-packages.log; echo "real node: host packages missing" >&2; exit 1; }
# The images (debootstrap, pip: network and disk) build while Go compiles (CPU).
echo "== real-node images, in the background (tests/realnode/prepare.sh --only images)"
start=$(date +%s)
bash tests/realnode/prepare.sh --only images >/tmp/rayop-realnode-images.log 2>&1 &
images_pid=$!

echo "== real kube-apiserver (tests/realapi/prepare.sh)"
bash tests/realapi/prepare.sh >/tmp/rayop-prepare.log 2>&1 || { tail -40 /tmp/rayop-prepare.log; exit 1; }
echo "   ready in $(( $(date +%s) - start )) s ($(tail -1 /tmp/rayop-prepare.log))"
export RAYOP_REALAPI=require

echo "== real node binaries (tests/realnode/prepare.sh --only binaries)"
bash tests/realnode/prepare.sh --only binaries >/tmp/rayop-realnode-binaries.log 2>&1 \
  || { tail -40 /tmp/rayop-realnode-binaries.log; echo "real node: binaries failed" >&2; exit 1; }
wait "$images_pid" \
  || { tail -40 /tmp/rayop-realnode-images.log; echo "real node: images failed" >&2; exit 1; }
echo "   real node ready in $(( $(date +%s) - start )) s"
export RAYOP_REALNODE=require   # without its parts its tests fail, naming them

echo "== every tier, with a real Ray head (scripts/ray-tier.sh)"
PYTHON="$PY" exec bash scripts/ray-tier.sh --all "$@"
