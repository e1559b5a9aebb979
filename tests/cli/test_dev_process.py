"""`rayop dev` as a process: progress, /metrics moving, /healthz and /readyz, SIGTERM exits cleanly.

The process serves its endpoints on 127.0.0.1 with ports the kernel picks (it prints them). Every
wait polls the process or its endpoints with a bound; nothing sleeps a fixed time.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from polling import wait_until

ROOT = Path(__file__).resolve().parents[2]
SHUTDOWN_TIMEOUT = 5.0


def http_get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=5) as answer:
            return int(answer.status), answer.read().decode()
    except urllib.error.HTTPError as err:
        return err.code, err.read().decode()


def metric(text: str, series: str, **labels: str) -> float:
    """Sum of the samples of ``name`` whose labels include ``labels``."""
    total, found = 0.0, False
    for line in text.splitlines():
        if not line.startswith(series + "{") and not line.startswith(series + " "):
            continue
        head, _, value = line.rpartition(" ")
        if all(f'{k}="{v}"' in head for k, v in labels.items()):
            total, found = total + float(value), True
    assert found, f"no sample of {series} {labels}"
    return total


class Dev:
    """A running `rayop dev` process whose stdout lines are read as they come."""

    def __init__(self, *args: str) -> None:
        env = {**os.environ, "PYTHONUNBUFFERED": "1", "NO_PROXY": "127.0.0.1",
               "no_proxy": "127.0.0.1"}
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "rayop.cli.main", "dev", *args], cwd=ROOT, env=env,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )
        self.lines: list[str] = []

    def read_until(self, pattern: str, limit: float = 60.0) -> re.Match[str]:
        assert self.proc.stdout is not None
        deadline = time.monotonic() + limit
        while time.monotonic() < deadline:
            line = self.proc.stdout.readline()
            if not line:
                break
            self.lines.append(line.rstrip("\n"))
            found = re.search(pattern, line)
            if found:
                return found
        raise AssertionError(f"{pattern!r} not printed; got:\n" + "\n".join(self.lines))

    def finish(self, limit: float) -> tuple[int, str, str]:
        out, err = self.proc.communicate(timeout=limit)
        return self.proc.returncode, "\n".join(self.lines) + out, err


@pytest.fixture
def dev() -> Iterator[Dev]:
    proc = Dev("--keep-running", "--metrics-bind-address", "127.0.0.1:0",
               "--health-probe-bind-address", "127.0.0.1:0",
               "--graceful-shutdown-timeout", str(SHUTDOWN_TIMEOUT))
    yield proc
    if proc.proc.poll() is None:
        proc.proc.kill()
        proc.proc.communicate()


def test_dev_serves_metrics_and_probes_and_exits_cleanly_on_sigterm(dev: Dev) -> None:
    metrics = dev.read_until(r"serving metrics on (http://127\.0\.0\.1:\d+)").group(1)
    probes = dev.read_until(r"serving probes on (http://127\.0\.0\.1:\d+)").group(1)
    assert metrics != probes
    dev.read_until(r"RayJob/rayjob-sample: .*Succeeded")
    dev.read_until(r"running until SIGTERM")

    assert http_get(probes + "/healthz") == (200, "ok\n")
    code, body = http_get(probes + "/readyz")
    assert code == 200, body
    assert http_get(metrics + "/healthz")[0] == 404  # metrics and probes are apart

    code, first = http_get(metrics + "/metrics")
    assert code == 200
    for name in ("controller_runtime_reconcile_total",
                 "controller_runtime_reconcile_time_seconds",
                 "controller_runtime_active_workers",
                 "controller_runtime_max_concurrent_reconciles",
                 "workqueue_adds_total", "workqueue_depth", "workqueue_queue_duration_seconds",
                 "workqueue_work_duration_seconds", "workqueue_retries_total"):
        assert f"# TYPE {name.removesuffix('_total')}" in first, name
    for controller in ("raycluster", "rayjob", "rayservice"):
        assert metric(first, "controller_runtime_reconcile_total", controller=controller) > 0
    assert metric(first, "workqueue_adds_total", name="rayjob") > 0

    # RayServices keep polling their applications: the counters move while it runs
    before = metric(first, "controller_runtime_reconcile_total", controller="rayservice")
    adds = metric(first, "workqueue_adds_total", name="rayservice")

    def moved() -> bool:
        text = http_get(metrics + "/metrics")[1]
        return (metric(text, "controller_runtime_reconcile_total", controller="rayservice")
                > before and metric(text, "workqueue_adds_total", name="rayservice") > adds)

    wait_until(moved, within=20.0, every=0.1,
               failure=lambda: "reconcile_total / workqueue_adds_total did not move")

    started = time.monotonic()
    dev.proc.send_signal(signal.SIGTERM)
    code, out, err = dev.finish(limit=SHUTDOWN_TIMEOUT + 10)
    took = time.monotonic() - started
    assert code == 0, err
    assert took < SHUTDOWN_TIMEOUT, f"shutdown took {took:.1f} s"
    assert "signal received: stopping" in out
    assert "Traceback" not in err
