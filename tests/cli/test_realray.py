"""`rayop dev --real-ray`: a real `ray start --head` per RayCluster, on loopback.

A RayJob whose entrypoint writes a file ends Succeeded and the file is there; a RayService whose
Serve application is a local module ends RUNNING and answers HTTP on 127.0.0.1; SIGTERM stops
every head it started. Ray runs in a loopback-only network namespace (``unshare -n``), entered
here unless the test already runs in one (``scripts/ray-tier.sh`` sets ``RAYOP_IN_NETNS``).

Heavy (two Ray heads, about a minute, 2 GB): it runs in the real-Ray tier only — when
``RAYOP_TEST_RAY_ADDRESS`` or ``RAYOP_REALRAY`` is set, as ``scripts/ray-tier.sh`` does — and
skips otherwise, naming what it lacks.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from rayop.ray.fakes.realray import ray_missing

ROOT = Path(__file__).resolve().parents[2]
SERVE_APP_DIR = ROOT / "tests" / "contract" / "dashboard"  # serve_app.py: answers a greeting

pytestmark = pytest.mark.realray


def _why_not() -> str | None:
    if not (os.environ.get("RAYOP_TEST_RAY_ADDRESS") or os.environ.get("RAYOP_REALRAY")):
        return ("the real Ray head tier is off: set RAYOP_REALRAY=require or run "
                "scripts/ray-tier.sh --all (RAYOP_TEST_RAY_ADDRESS)")
    missing = ray_missing()
    if missing:
        return f"no real Ray head possible: {missing}"
    if not os.environ.get("RAYOP_IN_NETNS") and (
            shutil.which("unshare") is None
            or subprocess.run(["unshare", "-n", "true"], check=False).returncode != 0):
        return "no real Ray head without a loopback-only network namespace (unshare -n)"
    return None


MANIFESTS = """\
apiVersion: ray.io/v1
kind: RayJob
metadata: {{name: writes-a-file}}
spec:
  entrypoint: >-
    python -c "import ray; ray.init();
    open('{out}', 'w').write('CPU=%s' % ray.cluster_resources()['CPU'])"
  shutdownAfterJobFinishes: false
  rayClusterSpec:
    headGroupSpec:
      template:
        spec:
          containers: [{{name: ray-head, image: rayproject/ray:2.9.0}}]
---
apiVersion: ray.io/v1
kind: RayService
metadata: {{name: greeter}}
spec:
  serveConfigV2: |
    applications:
      - name: greeter
        import_path: serve_app:app
        route_prefix: /greet
  rayClusterConfig:
    headGroupSpec:
      template:
        spec:
          containers: [{{name: ray-head, image: rayproject/ray:2.9.0}}]
"""


def test_real_ray_runs_the_entrypoint_and_serves_the_app(tmp_path: Path) -> None:
    why = _why_not()
    if why:
        pytest.skip(why)
    out_file = tmp_path / "written-by-the-job.txt"
    manifest = tmp_path / "real.yaml"
    manifest.write_text(MANIFESTS.format(out=out_file))
    command = [sys.executable, "-m", "rayop.cli.main", "dev", "--real-ray", "--keep-running",
               "--timeout", "300", str(manifest)]
    if not os.environ.get("RAYOP_IN_NETNS"):
        command = ["unshare", "-n", "sh", "-c", 'ip link set lo up && exec "$@"', "sh", *command]
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "NO_PROXY": "127.0.0.1",
           "PYTHONPATH": os.pathsep.join(filter(None, [str(SERVE_APP_DIR),
                                                       os.environ.get("PYTHONPATH")]))}
    proc = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    lines: list[str] = []
    try:
        assert proc.stdout is not None
        deadline = time.monotonic() + 400
        serve_ports: dict[str, int] = {}
        temp_dirs: list[str] = []
        while time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line:
                break
            lines.append(line.rstrip())
            head = re.search(r"RayCluster default/(\S+): dashboard \S+ serve http://127\.0\.0\.1:"
                             r"(\d+)", line)
            if head:
                serve_ports[head.group(1)] = int(head.group(2))
                temp_dirs.append(line.rsplit("(log ", 1)[1].rsplit("/", 1)[0])
            if "running until SIGTERM" in line:
                break
        text = "\n".join(lines)
        assert re.search(r"RayJob\s+default\s+writes-a-file\s+ok\s+Succeeded", text), text
        assert re.search(r"RayService\s+default\s+greeter\s+ok\s+RUNNING", text), text
        assert out_file.read_text() == "CPU=2.0"  # the entrypoint really ran, on the real head

        greeter = [port for name, port in serve_ports.items() if name.startswith("greeter")]
        assert len(greeter) == 1, serve_ports
        assert fetch(f"http://127.0.0.1:{greeter[0]}/greet", proc.pid) == "hello from rayop"
    finally:
        proc.send_signal(signal.SIGTERM)
        rest, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err[-3000:]
    assert "stopping the real Ray heads" in rest
    assert len(temp_dirs) == 2
    for temp_dir in temp_dirs:
        assert processes_naming(temp_dir) == [], f"Ray processes of {temp_dir} left behind"


def fetch(url: str, pid: int) -> str:
    """GET ``url`` from the network namespace process ``pid`` lives in."""
    if os.environ.get("RAYOP_IN_NETNS"):
        with urllib.request.urlopen(url, timeout=10) as answer:
            return str(answer.read().decode())
    code = f"import urllib.request as u; print(u.urlopen({url!r}, timeout=10).read().decode())"
    done = subprocess.run(["nsenter", f"--net=/proc/{pid}/ns/net", sys.executable, "-c", code],
                          capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def processes_naming(text: str) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                cmdline = (entry / "cmdline").read_bytes().decode(errors="ignore")
            except OSError:
                continue
            if text in cmdline:
                found.append(int(entry.name))
    return found
