"""``rayop_rayservice_*`` metrics, on a registry the caller chooses (a fresh one by default).

- ``rayop_rayservice_ready{namespace,name}`` — 1 while the RayService is RUNNING, else 0 (the
  series is removed when the RayService is deleted);
- ``rayop_rayservice_upgrades_total{namespace,kind}`` — clusters switched in (``kind`` =
  ``first``, ``upgrade``, ``unhealthy``) and clusters updated in place (``in_place``);
- ``rayop_rayservice_time_to_ready_seconds`` — from a RayService's ``startTime`` to its first
  RUNNING (again after a resume).
"""

from __future__ import annotations

import contextlib

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

__all__ = ["RayServiceMetrics"]

_BUCKETS = (5.0, 10.0, 20.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1200.0, 1800.0, 3600.0)


class RayServiceMetrics:
    """What a RayService controller counts."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry if registry is not None else CollectorRegistry()
        self.ready = Gauge("rayop_rayservice_ready", "1 while the RayService is RUNNING",
                           ["namespace", "name"], registry=self.registry)
        self.upgrades = Counter("rayop_rayservice_upgrades_total",
                                "RayClusters switched in or updated in place, by kind",
                                ["namespace", "kind"], registry=self.registry)
        self.time_to_ready = Histogram("rayop_rayservice_time_to_ready_seconds",
                                       "Seconds from startTime to the first RUNNING",
                                       registry=self.registry, buckets=_BUCKETS)

    def observe_status(self, namespace: str, name: str, *, before: str | None, after: str,
                       since_start: float | None) -> None:
        """Record a status write: readiness, and the time to the first RUNNING."""
        self.ready.labels(namespace, name).set(1.0 if after == "RUNNING" else 0.0)
        if after == "RUNNING" and before in (None, "", "DEPLOYING") and since_start is not None:
            self.time_to_ready.observe(since_start)

    def upgraded(self, namespace: str, kind: str) -> None:
        """Count a cluster switched in (``first``, ``upgrade``, ``unhealthy``) or ``in_place``."""
        self.upgrades.labels(namespace, kind).inc()

    def forget(self, namespace: str, name: str) -> None:
        """Drop a deleted RayService's series."""
        with contextlib.suppress(KeyError):
            self.ready.remove(namespace, name)
