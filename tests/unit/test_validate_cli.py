"""`rayop validate`: every problem with file, object and field; exit 1; never a traceback."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from rayop.cli.main import COMMANDS, build_parser, main
from rayop.ray.resources import VALIDATORS

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"

GOOD_JOB = """\
apiVersion: ray.io/v1
kind: RayJob
metadata: {name: good, namespace: team}
spec:
  entrypoint: python x.py
  rayClusterSpec:
    headGroupSpec:
      template: {spec: {containers: [{name: ray, image: rayproject/ray:2.9.0}]}}
"""

BAD_JOB = """\
apiVersion: ray.io/v1
kind: RayJob
metadata: {name: bad, namespace: team}
spec:
  ttlSecondsAfterFinished: -5
  rayClusterSpec:
    headGroupSpec:
      template: {spec: {containers: []}}
"""

SERVICE = """\
apiVersion: v1
kind: Service
metadata: {name: web}
"""


def _run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(["validate", *args])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_valid_file_exits_zero(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "job.yaml"
    path.write_text(GOOD_JOB)
    code, out, err = _run(capsys, str(path))
    assert (code, out) == (0, "")
    assert "1 ray.io object(s) checked, 0 invalid" in err


def test_each_problem_names_file_object_and_field(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "all.yaml"
    path.write_text(GOOD_JOB + "---\n" + BAD_JOB + "---\n" + SERVICE)
    code, out, err = _run(capsys, str(path))
    assert code == 1
    lines = out.splitlines()
    prefix = f"{path}: RayJob/team/bad: "
    assert f"{prefix}spec.ttlSecondsAfterFinished: must be 0 or more, got -5" in lines
    assert any(line.startswith(f"{prefix}spec.entrypoint: required") for line in lines)
    assert any(
        line.startswith(f"{prefix}spec.rayClusterSpec.headGroupSpec.template.spec.containers: ")
        for line in lines
    )
    assert all(line.startswith(prefix) for line in lines)
    assert f"{path}: Service/web: note: skipped, not a ray.io kind" in err
    assert "2 ray.io object(s) checked, 1 invalid, 1 other object(s) skipped" in err


def test_json_and_directories(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "job.json").write_text(json.dumps(yaml.safe_load(GOOD_JOB)))
    (tmp_path / "notes.txt").write_text("not a manifest")
    code, out, err = _run(capsys, str(tmp_path))
    assert (code, out) == (0, "")
    assert "1 ray.io object(s) checked" in err


def test_list_kind_items_are_checked(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    items = [yaml.safe_load(GOOD_JOB), yaml.safe_load(BAD_JOB)]
    path = tmp_path / "list.json"
    path.write_text(json.dumps({"apiVersion": "v1", "kind": "List", "items": items}))
    code, out, _ = _run(capsys, str(path))
    assert code == 1
    assert "RayJob/team/bad" in out
    assert "RayJob/team/good" not in out


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\xff\xfe", "cannot read: not a UTF-8 text file"),
        (b"abc\x00def", "cannot read: a binary file"),
        (b"kind: RayJob\nspec: [\n", "not YAML: line 3:"),
        (b"- 1\n- 2\n", "document 1: not a Kubernetes object (a mapping): got a list"),
        (b"just words", "document 1: not a Kubernetes object (a mapping): got a string"),
    ],
)
def test_garbage_is_reported_without_traceback(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], content: bytes, expected: str
) -> None:
    path = tmp_path / "garbage.yaml"
    path.write_bytes(content)
    code, out, err = _run(capsys, str(path))
    assert code == 1
    assert out.startswith(f"{path}: {expected}")
    assert "Traceback" not in out + err


def test_bad_json_names_the_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "x.json"
    path.write_text('{\n  "kind": "RayJob",\n  oops\n}')
    code, out, _ = _run(capsys, str(path))
    assert code == 1
    assert out.startswith(f"{path}: not JSON: line 3:")


def test_empty_file_is_a_note(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "empty.yaml"
    path.write_text("")
    code, out, err = _run(capsys, str(path))
    assert (code, out) == (0, "")
    assert "no objects in this file" in err


def test_missing_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = _run(capsys, str(tmp_path / "nope.yaml"))
    assert code == 1
    assert "no such file or directory" in out


def test_commands_are_registered_in_one_table() -> None:
    assert [c.name for c in COMMANDS] == ["run", "dev", "validate", "crds", "manifests"]
    help_text = build_parser().format_help()
    assert all(c.name in help_text for c in COMMANDS)


def test_no_command_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main([])
    assert exit_info.value.code == 2


# ---- the examples folder -----------------------------------------------------------------


def test_every_manifest_example_is_valid(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = _run(capsys, str(EXAMPLES / "manifests"))
    assert (code, out) == (0, "")
    assert "0 invalid, 0 other object(s) skipped" in err


def _seed_files() -> list[Path]:
    return sorted(p for p in (EXAMPLES / "seeds").iterdir() if p.suffix == ".json")


@pytest.mark.parametrize("path", _seed_files(), ids=lambda p: p.name)
def test_seed_examples_are_valid_or_fail_as_expected(path: Path) -> None:
    obj = json.loads(path.read_text())
    problems = [str(p) for p in VALIDATORS[obj["kind"]](obj)]
    expected_file = path.with_suffix(".expected")
    if expected_file.exists():
        expected = expected_file.read_text().strip()
        assert problems, f"{path.name} should be invalid"
        assert all(p.startswith(expected) for p in problems), problems
    else:
        assert problems == []


def test_seed_examples_are_the_specs_examples_as_written() -> None:
    import re

    spec_dir = Path(__file__).resolve().parents[2] / "docs" / "seed-spec"
    for name in ("rayjob", "rayservice"):
        text = (spec_dir / f"{name}.md").read_text()
        block = re.search(r"```json\n(.*?)```", text, re.S)
        assert block is not None
        assert (EXAMPLES / "seeds" / f"{name}-example.json").read_text() == block.group(1)
