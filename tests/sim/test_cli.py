"""``python -m rayop.testing``: replay prints the run and its timeline; the kit's names resolve."""

from __future__ import annotations

import pytest

import rayop.testing
from rayop.testing.__main__ import main


def test_replay_prints_the_run_its_faults_and_the_timeline(
        capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["replay", "3", "--obj", "default/job-0"]) == 0
    out = capsys.readouterr().out
    first, drawn, injected, *timeline = out.splitlines()
    assert first.startswith("seed    3: 2 manager(s)") and first.endswith(": ok")
    assert drawn.startswith("faults drawn: api[") and injected.startswith("faults injected: {")
    assert any("RayJob default/job-0" in line and "patch_status -> Complete" in line
               for line in timeline)


def test_replay_with_a_planted_bug_exits_1_and_prints_the_violation(
        capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["replay", "0", "--broken", "switch-before-ready"]) == 1
    out = capsys.readouterr().out
    assert out.splitlines()[0].endswith(": 1 VIOLATIONS")
    assert "[serving]" in out and "RayService default/svc-0 stopped serving" in out
    assert "replay: python -m rayop.testing replay 0 --broken switch-before-ready" in out


def test_an_unknown_planted_bug_is_refused() -> None:
    with pytest.raises(SystemExit):
        main(["replay", "3", "--broken", "nonsense"])


def test_every_name_the_kit_exports_resolves() -> None:
    assert [n for n in rayop.testing.__all__ if not hasattr(rayop.testing, n)] == []
