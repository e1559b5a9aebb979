"""The fuzzer tier's cases and its verdicts, shared by the fake run and the real API server run.

Cases are drawn from a seed with :class:`rayop.testing.fuzz.Fuzzer` from KubeRay-style samples of
the three kinds (``examples/manifests``) and rayop's CRD schemas: replay one with its seed and
index (``RAYOP_FUZZ_SEED``, see docs/testing.md).
"""

from __future__ import annotations

import resource
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from rayop.ray.crds import generate_crds
from rayop.ray.kinds import RAYCLUSTER, RAYJOB, RAYSERVICE
from rayop.runtime.client import Kind, Obj
from rayop.testing.fuzz import FuzzCase, Fuzzer, verdict

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "manifests"
KINDS: dict[str, Kind] = {"RayJob": RAYJOB, "RayService": RAYSERVICE, "RayCluster": RAYCLUSTER}
SAMPLES: dict[str, Obj] = {
    "RayJob": yaml.safe_load((EXAMPLES / "rayjob-sample.yaml").read_text()),
    "RayService": yaml.safe_load((EXAMPLES / "rayservice-sample.yaml").read_text()),
    "RayCluster": yaml.safe_load((EXAMPLES / "raycluster-sample.yaml").read_text()),
}
SCHEMAS: dict[str, Mapping[str, Any]] = {
    crd["spec"]["names"]["kind"]: crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    for crd in generate_crds()
}


@dataclass
class Case:
    """One generated object: its kind, name, the mutations that made it."""

    index: int
    kind: Kind
    fuzz: FuzzCase

    @property
    def name(self) -> str:
        """The object's name."""
        return str(self.fuzz.obj["metadata"]["name"])


def draw(seed: int, count: int, namespace: str) -> list[Case]:
    """``count`` cases from ``seed``: the same seed, the same objects."""
    fuzzer = Fuzzer(seed)
    out = []
    for index in range(count):
        kind = fuzzer.rng.choice(sorted(SAMPLES))
        case = fuzzer.case(SAMPLES[kind], SCHEMAS[kind])
        case.obj["metadata"] = {"name": f"fuzz-{index}", "namespace": namespace}
        out.append(Case(index, KINDS[kind], case))
    return out


def good(namespace: str) -> list[tuple[Kind, Obj]]:
    """The well-formed neighbours that must converge beside the cases."""
    out = []
    for kind in ("RayJob", "RayService"):
        obj = yaml.safe_load(yaml.safe_dump(SAMPLES[kind]))
        obj["metadata"] = {"name": f"good-{kind.lower()}", "namespace": namespace}
        out.append((KINDS[kind], obj))
    return out


def converged(objs: Mapping[str, Obj]) -> bool:
    """The good RayJob Succeeded and the good RayService RUNNING."""
    job = (objs.get("good-rayjob") or {}).get("status") or {}
    svc = (objs.get("good-rayservice") or {}).get("status") or {}
    return job.get("status") == "Succeeded" and svc.get("status") == "RUNNING"


def failures(cases: Iterable[Case], objs: Mapping[str, Obj],
             events: Iterable[Obj], seed: int) -> list[str]:
    """Every accepted case not handled (see :func:`rayop.testing.fuzz.verdict`), with its replay."""
    about: dict[str, list[Obj]] = {}
    for event in events:
        about.setdefault(str((event.get("involvedObject") or {}).get("name")), []).append(event)
    out = []
    for case in cases:
        obj = objs.get(case.name)
        if obj is None:
            continue  # refused by the server, or deleted as its spec asked
        problem = verdict(obj, about.get(case.name, []))
        if problem is not None:
            out.append(f"seed {seed} case {case.index} ({case.kind.kind}: "
                       f"{'; '.join(case.fuzz.mutations)}): {problem}")
    return out


def peak_rss_mb() -> float:
    """This process's peak resident memory so far, in MB."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


@dataclass
class Tally:
    """What the tier prints at the end: cases, refusals, stops, the worst lag and memory."""

    cases: int = 0
    accepted: int = 0
    refused_by_server: int = 0
    rejected_by_rayop: int = 0
    manager_stops: int = 0
    max_lag: float = 0.0
    peak_rss: float = 0.0
    runs: list[str] = field(default_factory=list)

    def line(self) -> str:
        """One line of figures."""
        return (f"{self.cases} cases ({self.accepted} accepted by the API server, "
                f"{self.refused_by_server} refused by it; {self.rejected_by_rayop} refused by "
                f"rayop with ValidationFailed), {self.manager_stops} manager stops, max "
                f"event-loop lag {self.max_lag * 1000:.0f} ms, peak RSS {self.peak_rss:.0f} MB")


TALLIES: dict[str, Tally] = {}
"""Per backend, filled by the tests, printed by ``tests/fuzz/conftest.py``."""
