"""Suite-wide pytest hooks: required tiers turn their skips into failures, and a tier summary.

Each optional tier skips, naming what it needs, when its part is missing (a real Ray head, kubectl,
a real kube-apiserver, a real node). ``scripts/test.sh`` provides every part and says so through
the environment (``RAYOP_REALRAY``, ``RAYOP_KUBECTL``, ``RAYOP_REALAPI``, ``RAYOP_REALNODE``
set to ``require``); a test of a required tier that still skips for lack of its part then fails,
so CI cannot go green on a tier that silently did not run.
"""

from __future__ import annotations

import os
import sys
from collections import Counter, defaultdict
from collections.abc import Generator
from pathlib import Path

import pytest

from rayop.runtime.clock import VirtualClock

# env variable -> words that appear in the skip reason of a test that lacks that tier's part
REQUIRED_TIERS: dict[str, tuple[str, ...]] = {
    "RAYOP_REALRAY": ("RAYOP_TEST_RAY_ADDRESS", "real Ray head"),
    "RAYOP_KUBECTL": ("kubectl",),
    "RAYOP_REALAPI": ("kube-apiserver", "real API server"),
    "RAYOP_REALNODE": ("real node",),
}

_skips: Counter[str] = Counter()

TESTS = Path(__file__).resolve().parent
if str(TESTS) not in sys.path:
    sys.path.insert(0, str(TESTS))  # `realapi` (the real API server harness), `polling`

# The real API server tier's session fixture, `real_apiserver`, registered once for the whole
# suite: imported into several modules it would be several fixtures, and start several servers.
from realapi.fixtures import real_apiserver_fixture  # noqa: E402, F401

_backend_of: dict[str, str] = {}


@pytest.fixture
def clock(virtual_clock: VirtualClock) -> VirtualClock:
    """The plugin's ``virtual_clock`` (auto-advance, closed after the test), by its short name."""
    return virtual_clock


def backend_of(item: pytest.Item) -> str | None:
    """The backend a test runs on: the value of its parameter ``*backend`` (or ``e2e``), if any.

    The suites written once for every backend (the ClusterClient contract suite, the end-to-end
    scenarios) take such a parameter whose value is the backend's name (``fake``, ``http``,
    ``kube``, ``realapi``).
    """
    callspec = getattr(item, "callspec", None)
    for name, value in (callspec.params.items() if callspec is not None else ()):
        if (name.endswith("backend") or name == "e2e") and isinstance(value, str):
            return value
    if "real_node" in getattr(item, "fixturenames", ()):
        return "realnode"  # a one-node Kubernetes running real Ray pods
    if "real_apiserver" in getattr(item, "fixturenames", ()):
        return "realapi"  # the real API server tier's own tests (smoke, CRD checks, RBAC)
    return None


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Remember each multi-backend test's backend, for the per-backend counts."""
    for item in items:
        if (backend := backend_of(item)) is not None:
            _backend_of[item.nodeid] = backend


def _required_tier(reason: str) -> str | None:
    for env, words in REQUIRED_TIERS.items():
        if os.environ.get(env) == "require" and any(w in reason for w in words):
            return env
    return None


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, None]:
    """Fail, instead of skip, a test whose required tier lacks its part."""
    outcome = yield
    report: pytest.TestReport = outcome.get_result()
    if report.skipped and isinstance(report.longrepr, tuple):
        reason = str(report.longrepr[2])
        _skips[reason.removeprefix("Skipped: ")] += 1
        env = _required_tier(reason)
        if env is not None:
            report.outcome = "failed"
            report.longrepr = f"{env}=require, but this test skipped: {reason}"


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """List every skip reason with its count, so a tier that did not run is visible.

    Then, per backend, how many tests ran (passed or failed) and how many skipped.
    """
    _per_backend(terminalreporter)
    _fuzz_figures(terminalreporter)
    if _skips:
        terminalreporter.section("skipped, by reason")
        for reason, count in _skips.most_common():
            terminalreporter.write_line(f"{count:5d}  {reason}")


def _fuzz_figures(terminalreporter: pytest.TerminalReporter) -> None:
    from fuzz.cases import TALLIES  # filled by tests/fuzz and tests/e2e/test_fuzz_e2e.py

    if not TALLIES:
        return
    terminalreporter.section("hostile-input fuzzer")
    for backend, tally in sorted(TALLIES.items()):
        terminalreporter.write_line(f"{backend:>8}: {tally.line()}")


def _per_backend(terminalreporter: pytest.TerminalReporter) -> None:
    counts: defaultdict[str, Counter[str]] = defaultdict(Counter)
    seen: set[str] = set()
    for outcome in ("failed", "error", "passed", "skipped", "xfailed", "xpassed"):
        for report in terminalreporter.stats.get(outcome, []):
            nodeid = getattr(report, "nodeid", "")
            backend = _backend_of.get(nodeid)
            if backend is None or nodeid in seen:  # a test with an error at teardown: once
                continue
            seen.add(nodeid)
            counts[backend][outcome] += 1
    if not counts:
        return
    terminalreporter.section("tests per backend")
    for backend in sorted(counts):
        tally = counts[backend]
        ran = tally["passed"] + tally["failed"] + tally["error"] + tally["xpassed"]
        detail = ", ".join(f"{tally[o]} {o}" for o in sorted(tally))
        terminalreporter.write_line(f"{backend:>10}: {ran:4d} run ({detail})")
