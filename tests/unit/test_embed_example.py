"""examples/embed_runtime.py runs, in real and in virtual time, and shows each step."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

import pytest

from rayop import VirtualClock

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "embed_runtime.py"


def load() -> ModuleType:
    spec = importlib.util.spec_from_file_location("embed_runtime", EXAMPLE)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def check(out: str) -> None:
    steps = ["copy created", "copy updated", "copy put back", "copy removed"]
    positions = [out.index(f"ok: {step}") for step in steps]
    assert positions == sorted(positions)
    assert "events on the source: ['Mirrored']" in out
    assert "controller_runtime_reconcile_total{result=success} = " in out
    assert "manager stopped" in out


async def test_the_embedding_example_runs_in_virtual_time(
    capsys: pytest.CaptureFixture[str],
) -> None:
    clock = VirtualClock(auto_advance=True)
    try:
        await load().main(clock)
    finally:
        await clock.aclose()
    check(capsys.readouterr().out)


async def test_the_embedding_example_runs_as_written(capsys: pytest.CaptureFixture[str]) -> None:
    await load().main()  # the real clock: what `python examples/embed_runtime.py` does
    check(capsys.readouterr().out)
