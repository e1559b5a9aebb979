"""The fake cluster tour runs and shows each of its steps."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

TOUR = Path(__file__).resolve().parents[2] / "examples" / "fake_cluster_tour.py"


async def test_tour_shows_every_step(capsys: pytest.CaptureFixture[str]) -> None:
    spec = importlib.util.spec_from_file_location("fake_cluster_tour", TOUR)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    await module.main()
    out = capsys.readouterr().out
    assert "[create] rayjobs/demo uid=" in out
    assert "[conflict]" in out and "409 Operation cannot be fulfilled" in out
    assert "delete held by ['rayop.dev/stop-job']" in out and '"demo" not found' in out
    assert "[gc] after deleting rayjobs/owner (Background): configmaps in default: []" in out
    assert "stream dropped; resuming" in out
    assert out.index("ADDED w1") < out.index("stream dropped") < out.index("ADDED w3")
    assert out.count("ADDED w1") == 1
