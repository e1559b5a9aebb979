"""rayop's testing kit: run an operator in a misbehaving world, in virtual time, from a seed.

- :class:`Simulation` — the fake cluster, kubelet, fake Ray heads, a virtual clock and one or more
  managers (rayop's controllers and/or yours), with a timeline of everything that happened;
- :func:`draw_faults` / :func:`run_chaos` — seeded fault schedules and the task that plays them;
- the invariants (:mod:`rayop.testing.invariants`) checked during and after every run;
- :func:`run_world` — the standard seeded world the sweep and ``bench/soak.py`` run;
- ``python -m rayop.testing replay SEED`` — replay one seed and print its timeline.

The pytest plugin (``rayop.testing.pytest_plugin``, installed with rayop) gives tests the
``simulation`` fixture and the others; see docs/testing.md.
"""

from __future__ import annotations

from rayop.testing.chaos import (
    API_FAULTS,
    TIMED_FAULTS,
    Action,
    FaultMix,
    FaultSchedule,
    draw_faults,
    run_chaos,
)
from rayop.testing.invariants import DOCUMENTED, Monitor, Violation, check_world
from rayop.testing.links import ClusterLink, DashboardLink, LinkState, Submission
from rayop.testing.simulation import InvariantViolation, ManagerSlot, NotSettled, Setup, Simulation
from rayop.testing.timeline import Entry, Timeline
from rayop.testing.world import (
    SeedResult,
    rayjob_manifest,
    rayservice_manifest,
    replay_command,
    run_world,
)

__all__ = [
    "API_FAULTS",
    "DOCUMENTED",
    "TIMED_FAULTS",
    "Action",
    "ClusterLink",
    "DashboardLink",
    "Entry",
    "FaultMix",
    "FaultSchedule",
    "InvariantViolation",
    "LinkState",
    "ManagerSlot",
    "Monitor",
    "NotSettled",
    "SeedResult",
    "Setup",
    "Simulation",
    "Submission",
    "Timeline",
    "Violation",
    "check_world",
    "draw_faults",
    "rayjob_manifest",
    "rayservice_manifest",
    "replay_command",
    "run_chaos",
    "run_world",
]
