"""docs/testing.md: its complete programs run as written, and what it names exists."""

from __future__ import annotations

import contextlib
import io
import re
from pathlib import Path

import rayop.testing
from rayop.testing.__main__ import main, quiet_logs
from rayop.testing.planted import PLANTED

DOC = Path(__file__).resolve().parents[2] / "docs" / "testing.md"
_BLOCK = re.compile(r"^```python\n(.*?)^```", re.S | re.M)


def test_the_complete_programs_run() -> None:
    programs = [b for b in _BLOCK.findall(DOC.read_text()) if b.startswith("import ")]
    assert programs
    for index, code in enumerate(programs):
        out = io.StringIO()
        with contextlib.redirect_stdout(out), quiet_logs():
            exec(compile(code, f"testing.md#{index + 1}", "exec"), {"__name__": "__main__"})
        assert "default/demo" in out.getvalue()


def test_every_fault_and_fixture_it_lists_exists() -> None:
    text = DOC.read_text()
    for fault in (*rayop.testing.API_FAULTS, *rayop.testing.TIMED_FAULTS):
        assert f"`{fault}`" in text
    for fixture in ("rayop_seed", "virtual_clock", "fake_cluster", "fake_dashboards", "kubelet",
                    "simulation", "rayop_simulation_options"):
        assert f"`{fixture}`" in text


def test_every_planted_bug_is_described_and_its_replays_fail() -> None:
    """Each ``--broken`` name is in the guide, and each ``replay N --broken NAME`` it shows
    fails an invariant (exit status 1), so the seeds it names stay true."""
    text = DOC.read_text()
    for name in PLANTED:
        assert f"`{name}`" in text
    replays = re.findall(r"^python -m rayop\.testing replay (\d+) --broken ([\w-]+)", text, re.M)
    assert {name for _, name in replays} == set(PLANTED)
    for seed, name in replays:
        with contextlib.redirect_stdout(io.StringIO()):
            assert main(["replay", seed, "--broken", name]) == 1, (seed, name)
