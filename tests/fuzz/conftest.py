"""Print the fuzzer tier's figures at the end of the run."""

from __future__ import annotations

import pytest

from fuzz.cases import TALLIES


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """One line per backend: cases, refusals, manager stops, max loop lag, peak memory."""
    if not TALLIES:
        return
    terminalreporter.section("hostile-input fuzzer")
    for backend, tally in sorted(TALLIES.items()):
        terminalreporter.write_line(f"{backend:>8}: {tally.line()}")
