"""Logs of a whole `rayop dev` run: object lines carry kind/namespace/name; no env value leaks.

Values are planted where users put secrets — a container's ``env``, a ``valueFrom`` secret key, a
RayJob's and a Serve application's ``runtime_env.env_vars`` — in valid and in malformed objects,
and the run logs at debug level. No planted value may appear in the process output, the logs or
any Event; every JSON log line that names an object also names its kind and namespace.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import structlog

from rayop.cli.main import main
from rayop.runtime.logs import configure_logging, redact

ROOT = Path(__file__).resolve().parents[2]
PLANTED = ("PLANTED-POD-ENV-91c2", "PLANTED-RUNTIME-ENV-7f3a", "PLANTED-KEYREF-aa01",
           "PLANTED-SERVE-ENV-0b9d", "PLANTED-WORKER-ENV-3e4f", "PLANTED-BAD-ENV-55e1",
           "PLANTED-OTHER-77d0")

MANIFESTS = """\
apiVersion: ray.io/v1
kind: RayJob
metadata: {name: planted, namespace: team-a}
spec:
  entrypoint: python -c "print(1)"
  runtimeEnv: |
    env_vars:
      API_TOKEN: PLANTED-RUNTIME-ENV-7f3a
  rayClusterSpec:
    headGroupSpec:
      template:
        spec:
          containers:
            - name: ray-head
              image: rayproject/ray:2.9.0
              env:
                - {name: DB_PASSWORD, value: PLANTED-POD-ENV-91c2}
                - name: FROM_SECRET
                  valueFrom: {secretKeyRef: {name: creds, key: PLANTED-KEYREF-aa01}}
    workerGroupSpecs:
      - groupName: w
        replicas: 1
        template:
          spec:
            containers:
              - name: ray-worker
                image: rayproject/ray:2.9.0
                env: [{name: PLAIN, value: PLANTED-WORKER-ENV-3e4f}]
---
apiVersion: ray.io/v1
kind: RayService
metadata: {name: planted-svc, namespace: team-a}
spec:
  serveConfigV2: |
    applications:
      - name: app
        import_path: app:main
        runtime_env:
          env_vars: {SECRET_KEY: PLANTED-SERVE-ENV-0b9d}
  rayClusterConfig:
    headGroupSpec:
      template:
        spec:
          containers:
            - name: ray-head
              image: rayproject/ray:2.9.0
              env: [{name: X, value: PLANTED-POD-ENV-91c2}]
---
apiVersion: ray.io/v1
kind: RayJob
metadata: {name: planted-invalid, namespace: team-a}
spec:
  entrypoint: python -c "print(1)"
  runtimeEnv: "env_vars: {A: PLANTED-BAD-ENV-55e1}"
  runtimeEnvYAML: "env_vars: {A: PLANTED-OTHER-77d0}"
  rayClusterSpec:
    headGroupSpec:
      template:
        spec:
          containers:
            - name: ray-head
              image: rayproject/ray:2.9.0
              env: [{name: X, value: PLANTED-BAD-ENV-55e1}]
"""


@pytest.fixture(autouse=True)
def _restore_structlog() -> object:
    yield
    structlog.reset_defaults()


def test_no_env_value_is_printed_and_object_lines_name_the_object(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    manifest = tmp_path / "planted.yaml"
    manifest.write_text(MANIFESTS)
    code = main(["dev", "--log-level", "debug", "--log-format", "json", str(manifest),
                 str(ROOT / "examples" / "manifests")])
    captured = capsys.readouterr()
    assert code == 1  # the invalid RayJob fails; the others succeed
    assert "planted-invalid" in captured.out and "spec.runtimeEnvYAML" in captured.out
    for value in PLANTED:
        assert value not in captured.out, value
        assert value not in captured.err, value
    lines = [json.loads(line) for line in captured.err.splitlines() if line.strip()]
    assert len(lines) > 20
    about_objects = [line for line in lines if "name" in line]
    assert about_objects
    for line in about_objects:
        assert line.get("kind") and line.get("namespace"), line
    events = [line for line in lines if line["event"] == "event"]
    assert {e["name"] for e in events} >= {"planted", "planted-svc", "planted-invalid"}
    warning = [e for e in events if e["name"] == "planted-invalid" and e["type"] == "Warning"]
    assert warning and "spec.runtimeEnvYAML" in warning[0]["message"]


def test_redact_hides_values_under_secret_keys_at_any_depth() -> None:
    event = {"event": "x", "token": "t0k3n", "headers": {"Authorization": "Bearer abc"},
             "spec": {"containers": [{"env": [{"name": "A", "value": "v"}]}]},
             "runtime_env": {"env_vars": {"K": "v2"}}, "name": "keep-me"}
    out = redact(None, "info", dict(event))
    text = json.dumps(out)
    for secret in ("t0k3n", "Bearer abc", '"v"', "v2"):
        assert secret not in text, secret
    assert out["name"] == "keep-me" and out["event"] == "x"


def test_stdlib_loggers_come_out_as_json_too(capsys: pytest.CaptureFixture[str]) -> None:
    import logging

    configure_logging(fmt="json", level="info")
    logging.getLogger("aiohttp.client").warning("retrying with password=%s", "hunter2")
    err = capsys.readouterr().err.strip().splitlines()[-1]
    line = json.loads(err)
    assert line["logger"] == "aiohttp.client" and line["level"] == "warning"
