#!/usr/bin/env bash
# The real-Ray tier: start a Ray head on loopback, run the dashboard contract suite against it
# (and the fake) and the real-Ray scenarios (tests/realray: rayop on the fake cluster with this
# head's dashboard), stop Ray whatever happens.
#
# Ray needs `ray[default,serve]` in the Python environment (install it BEFORE running this: inside
# the network namespace there is no network). When `unshare -n` works (root, or user namespaces),
# Ray and the tests run in a loopback-only network namespace, so nothing Ray opens is reachable
# from outside: Serve replicas bind every interface, hard-coded in Ray. Otherwise Ray binds
# 127.0.0.1 only and the script says so.
#
#   scripts/ray-tier.sh                 # the contract suite (both backends) and tests/realray
#   scripts/ray-tier.sh -k serve -x     # extra pytest arguments
#   scripts/ray-tier.sh --all           # the whole suite while Ray is up (scripts/test.sh)
#
# Environment: PYTHON (default: /work/venv/bin/python if present, else python3).
# `ray stop --force` stops every Ray process of this user: run it where no other Ray runs.
set -euo pipefail
SELF=$(readlink -f "$0")
cd "$(dirname "$SELF")/.."

if [ -z "${RAYOP_IN_NETNS:-}" ] && unshare -n true 2>/dev/null; then
  exec unshare -n env RAYOP_IN_NETNS=1 "$SELF" "$@"
fi
if [ -n "${RAYOP_IN_NETNS:-}" ]; then
  ip link set lo up
  echo "== in a loopback-only network namespace"
else
  echo "== WARNING: unshare -n unavailable; Ray binds 127.0.0.1 but Serve replicas bind all" \
       "interfaces" >&2
fi

PY=${PYTHON:-}
if [ -z "$PY" ]; then
  if [ -x /work/venv/bin/python ]; then PY=/work/venv/bin/python; else PY=python3; fi
fi
BIN=$(dirname "$PY")
RAY="$BIN/ray"
[ -x "$RAY" ] || { echo "no ray next to $PY: pip install 'ray[default,serve]'" >&2; exit 2; }

RT=$(mktemp -d /tmp/rayop-ray.XXXX)   # short: Ray's unix socket paths must stay under 108 bytes
stop_ray() {
  echo "== stopping Ray"
  timeout 60 "$RAY" stop --force >/dev/null 2>&1 || true
  rm -rf "$RT"
}
trap stop_ray EXIT

APP_DIR="$PWD/tests/contract/dashboard"
echo "== starting Ray (temp dir $RT)"
start=$(date +%s)
PYTHONPATH="$APP_DIR${PYTHONPATH:+:$PYTHONPATH}" RAY_USAGE_STATS_ENABLED=0 timeout 120 \
  "$RAY" start --head --node-ip-address 127.0.0.1 --port 6390 \
  --dashboard-host 127.0.0.1 --dashboard-port 8265 --include-dashboard true \
  --num-cpus 2 --object-store-memory 200000000 --temp-dir "$RT" --disable-usage-stats \
  >"$RT/start.log" 2>&1 || { cat "$RT/start.log" >&2; exit 1; }

ready=""
for _ in $(seq 60); do
  if "$PY" -c "import urllib.request as u; u.urlopen('http://127.0.0.1:8265/api/version', timeout=2)" \
      2>/dev/null; then ready=1; break; fi
  sleep 1
done
[ -n "$ready" ] || { echo "Ray's dashboard did not answer in 60 s" >&2; exit 1; }
echo "== Ray ready in $(( $(date +%s) - start )) s"

export RAYOP_TEST_RAY_ADDRESS=http://127.0.0.1:8265
export RAYOP_TEST_SERVE_PORT=8000
export RAYOP_REALRAY=require
if [ "${1:-}" = "--all" ]; then
  # scripts/test.sh: the whole suite, every tier, in one pytest run while Ray is up.
  shift
  timeout 1800 "$PY" -m pytest -q -p no:cacheprovider --durations=10 "$@"
  exit $?
fi
timeout 900 "$PY" -m pytest -p no:cacheprovider -v --durations=5 tests/contract/dashboard \
  tests/realray "$@"
