"""Model costs: parse and dump rates of a ~3.5 KB RayService beside json/orjson of the same bytes.

Run: ``python bench/models.py`` (about 10 s; ``--quick`` for a smaller run). Every row runs in the
same process on the same bytes, so the ratios compare like with like; the absolute rates depend on
the machine. Rows:

- ``json.loads`` / ``orjson.loads``: bytes to dict, the baselines.
- ``model_validate(dict)``: dict (already decoded) to a ``RayService`` model, types only.
- ``model_validate_json``: bytes straight to the model.
- ``to_wire``: model back to a JSON-shaped dict (``exclude_unset``, unknown fields kept).
- ``schema_validator``: the API-server check the fake cluster runs on every write.
- ``validate_rayservice``: full validation; the Serve config check is cached by its text, so the
  second row (cache cleared every call) shows the cost of parsing a new config's YAML.
"""

from __future__ import annotations

import argparse
import gc
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
import yaml

from rayop.ray.resources import RayService, schema_validator, validate_rayservice
from rayop.ray.resources.serve import _check_text
from rayop.runtime.models import to_wire

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "manifests" / "rayservice-sample.yaml"


def _object() -> dict[str, Any]:
    """The sample RayService with the metadata and status an API server would add."""
    obj: dict[str, Any] = yaml.safe_load(EXAMPLE.read_text())
    obj["metadata"].update(
        {
            "namespace": "default",
            "uid": "6f1c1b7e-8a8e-4d5e-9a1c-0d8f2f6b7a11",
            "resourceVersion": "123456",
            "generation": 2,
            "creationTimestamp": "2025-07-06T13:00:00Z",
        }
    )
    obj["status"] = {
        "status": "RUNNING",
        "rayClusterName": "rayservice-sample-raycluster-abcde",
        "appStatus": {"status": "HEALTHY"},
        "serviceStatus": "Running",
        "numServeEndpoints": 2,
        "observedGeneration": 2,
        "startTime": "2025-07-06T13:00:00Z",
        "activeServiceStatus": {
            "rayClusterName": "rayservice-sample-raycluster-abcde",
            "applicationStatuses": {
                app: {
                    "status": "RUNNING",
                    "healthLastUpdateTime": "2025-07-06T13:05:00Z",
                    "serveDeploymentStatuses": {
                        name: {"status": "HEALTHY", "healthLastUpdateTime": "2025-07-06T13:05:00Z"}
                        for name in names
                    },
                }
                for app, names in (
                    ("fruit_app", ("MangoStand", "OrangeStand", "PearStand", "FruitMarket")),
                    ("math_app", ("Adder", "Multiplier", "Router")),
                )
            },
        },
    }
    return obj


def _rate(fn: Callable[[], object], seconds: float) -> float:
    """Calls per second of ``fn``: the best of three timed runs of about ``seconds`` / 3 each."""
    calls = 1
    while True:  # find a batch size that takes at least 10 ms
        start = time.perf_counter()
        for _ in range(calls):
            fn()
        if time.perf_counter() - start > 0.01:
            break
        calls *= 2
    best = 0.0
    for _ in range(3):
        batch = max(1, int(calls * (seconds / 3) / 0.01))
        start = time.perf_counter()
        for _ in range(batch):
            fn()
        best = max(best, batch / (time.perf_counter() - start))
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="shorter runs")
    args = parser.parse_args()
    seconds = 0.3 if args.quick else 1.2

    obj = _object()
    data = orjson.dumps(obj)
    decoded = orjson.loads(data)
    model = RayService.model_validate(decoded)
    assert to_wire(model) == decoded, "the round trip must lose nothing"
    check = schema_validator("RayService")

    rows: list[tuple[str, Callable[[], object]]] = [
        ("json.loads", lambda: json.loads(data)),
        ("orjson.loads", lambda: orjson.loads(data)),
        ("model_validate(dict)", lambda: RayService.model_validate(decoded)),
        ("model_validate_json", lambda: RayService.model_validate_json(data)),
        ("to_wire (dump)", lambda: to_wire(model)),
        ("schema_validator", lambda: check(decoded)),
        ("validate_rayservice", lambda: validate_rayservice(decoded)),
        (
            "  same, cold YAML cache",
            lambda: (_check_text.cache_clear(), validate_rayservice(decoded)),
        ),
    ]
    print(f"RayService of {len(data)} bytes (JSON); CPython, gc enabled")
    gc.collect()
    rates = {name: _rate(fn, seconds) for name, fn in rows}
    base_json, base_orjson = rates["json.loads"], rates["orjson.loads"]
    print(f"{'operation':<24}{'per second':>12}{'vs json.loads':>16}{'vs orjson.loads':>18}")
    for name, rate in rates.items():
        print(f"{name:<24}{rate:>12,.0f}{base_json / rate:>15.1f}x{base_orjson / rate:>17.1f}x")


if __name__ == "__main__":
    main()
