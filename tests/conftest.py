"""Suite-wide pytest hooks: required tiers turn their skips into failures, and a tier summary.

Each optional tier skips, naming what it needs, when its part is missing (a real Ray head, kubectl,
a real kube-apiserver). ``scripts/test.sh`` provides every part and says so through the
environment (``RAYOP_REALRAY=require``, ``RAYOP_KUBECTL=require``, ``RAYOP_REALAPI=require``); a
test of a required tier that still skips for lack of its part then fails, so CI cannot go green
on a tier that silently did not run.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Generator

import pytest

# env variable -> words that appear in the skip reason of a test that lacks that tier's part
REQUIRED_TIERS: dict[str, tuple[str, ...]] = {
    "RAYOP_REALRAY": ("RAYOP_TEST_RAY_ADDRESS", "real Ray head"),
    "RAYOP_KUBECTL": ("kubectl",),
    "RAYOP_REALAPI": ("kube-apiserver", "real API server"),
}

_skips: Counter[str] = Counter()


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
    """List every skip reason with its count, so a tier that did not run is visible."""
    if _skips:
        terminalreporter.section("skipped, by reason")
        for reason, count in _skips.most_common():
            terminalreporter.write_line(f"{count:5d}  {reason}")
