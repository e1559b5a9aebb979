"""``rayop_rayjob_*`` metrics, on a registry the caller chooses (a fresh one by default).

- ``rayop_rayjob_finished_total{namespace,outcome}`` — RayJobs that reached an end, by outcome
  (``Succeeded``, ``Failed``, ``Stopped``; a retried attempt counts as ``Retried``);
- ``rayop_rayjob_time_to_running_seconds`` — from a RayJob's ``startTime`` to its submission;
- ``rayop_rayjob_run_duration_seconds`` — from ``startTime`` to ``endTime`` of finished RayJobs.

Each is observed on the status write that makes the transition, so a restarted operator does not
count a RayJob twice (the transition is written once).
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram

__all__ = ["RayJobMetrics"]

_BUCKETS = (1.0, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0, 3600.0, 7200.0, 21600.0)


class RayJobMetrics:
    """What a RayJob controller counts."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry if registry is not None else CollectorRegistry()
        self.finished = Counter("rayop_rayjob_finished_total",
                                "RayJobs that finished (or attempts retried), by outcome",
                                ["namespace", "outcome"], registry=self.registry)
        self.time_to_running = Histogram("rayop_rayjob_time_to_running_seconds",
                                         "Seconds from startTime to the job's submission",
                                         registry=self.registry, buckets=_BUCKETS)
        self.run_duration = Histogram("rayop_rayjob_run_duration_seconds",
                                      "Seconds from startTime to endTime of finished RayJobs",
                                      registry=self.registry, buckets=_BUCKETS)

    def observe(self, namespace: str, *, before: str, after: str, seed_status: str,
                since_start: float | None) -> None:
        """Record one status write moving ``jobDeploymentStatus`` from ``before`` to ``after``."""
        if before == after or since_start is None:
            return
        if after == "Running" and before in ("", "Initializing", "Waiting"):
            self.time_to_running.observe(since_start)
        elif after == "Retrying":
            self.finished.labels(namespace, "Retried").inc()
        elif after in ("Complete", "Failed"):
            self.finished.labels(namespace, seed_status).inc()
            self.run_duration.observe(since_start)
