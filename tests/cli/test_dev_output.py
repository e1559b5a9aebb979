"""`rayop dev`'s must-shows: progress as statuses change, a final table, the exit status."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import structlog

from rayop.cli.main import main

ROOT = Path(__file__).resolve().parents[2]
MANIFESTS = ROOT / "examples" / "manifests"
SEED_SERVICE = ROOT / "examples" / "seeds" / "rayservice-example.json"


@pytest.fixture(autouse=True)
def _restore_structlog() -> object:
    yield
    structlog.reset_defaults()


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str]:
    code = main(["dev", *argv])
    return code, capsys.readouterr().out


def table(out: str) -> dict[str, tuple[str, str]]:
    rows = out.split("\nKIND ", 1)[1].splitlines()[1:]
    return {r.split()[2]: (r.split()[3], r) for r in rows if r.strip()}


def test_the_examples_succeed_with_progress_and_a_table(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(ROOT)  # the default is examples/manifests, as in the README
    code, out = run(capsys)
    assert code == 0
    # each object's status is printed as it changes, in order
    job = [line for line in out.splitlines() if "] RayJob/rayjob-sample:" in line]
    assert [re.search(r": (\w+) ", line).group(1) for line in job][:1] == ["Pending"]  # type: ignore[union-attr]
    assert job[-1].endswith("Succeeded (Complete): Job finished successfully.")
    times = [float(line[1:8]) for line in job]
    assert times == sorted(times) and len(job) >= 3
    service = [line for line in out.splitlines() if "] RayService/rayservice-sample:" in line]
    assert "DEPLOYING" in service[0] and "RUNNING app=HEALTHY" in service[-1]
    rows = table(out)
    assert set(rows) == {"raycluster-sample", "rayjob-on-sample-cluster", "rayjob-shutdown",
                         "rayjob-sample", "rayservice-graph", "rayservice-sample"}
    assert all(result == "ok" for result, _ in rows.values())


def test_the_invalid_seed_service_fails_with_its_field_and_the_others_go_on(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, out = run(capsys, str(MANIFESTS), str(SEED_SERVICE))
    assert code == 1
    rows = table(out)
    result, row = rows["example-rayservice"]
    assert result == "FAIL" and "FAILED" in row and "spec.serveConfigV2" in row
    assert all(result == "ok" for name, (result, _) in rows.items()
               if name != "example-rayservice")
    assert re.search(r"\] RayService/example-rayservice: FAILED .*spec\.serveConfigV2", out)


def test_a_manifest_the_api_rejects_is_reported_and_the_rest_run(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("apiVersion: ray.io/v1\nkind: RayJob\nmetadata: {name: bad}\n"
                   "spec: {entrypoint: x, ttlSecondsAfterFinished: -5, rayClusterSpec: "
                   "{headGroupSpec: {template: {spec: {containers: [{name: h, image: i}]}}}}}\n")
    code, out = run(capsys, str(bad), str(MANIFESTS / "rayjob-sample.yaml"))
    assert code == 1
    assert re.search(r"rejected RayJob/bad from .*bad\.yaml: .*ttlSecondsAfterFinished", out)
    assert table(out)["rayjob-sample"][0] == "ok"


def test_not_settling_in_time_is_a_failure(capsys: pytest.CaptureFixture[str]) -> None:
    code, out = run(capsys, "--timeout", "3", str(MANIFESTS / "rayjob-sample.yaml"))
    assert code == 1
    assert "not settled after 3 seconds" in out
    assert table(out)["rayjob-sample"][0] == "FAIL"


def test_an_unreadable_manifest_is_reported(capsys: pytest.CaptureFixture[str],
                                            tmp_path: Path) -> None:
    broken = tmp_path / "broken.yaml"
    broken.write_text("kind: [unclosed\n")
    code, out = run(capsys, str(broken))
    assert code == 1
    assert "cannot read manifests" in out and "not YAML" in out
