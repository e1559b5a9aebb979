"""Prometheus metrics with controller-runtime's names, on a registry the caller chooses.

Names, label names and help texts follow controller-runtime (``pkg/metrics``), so dashboards
and alerts written for Go operators work unchanged. Nothing registers on the global
``prometheus_client.REGISTRY`` unless it is passed in: each metrics object takes a
``CollectorRegistry`` (a fresh one by default), so two managers in one process never collide.

Work queue metrics (:class:`WorkQueueMetrics`), labelled ``name`` and ``controller`` (both the
queue's name, as controller-runtime sets them):

- ``workqueue_depth`` — keys ready to be handed out, read when scraped;
- ``workqueue_adds_total`` — keys that entered the queue (duplicates of a queued key don't count);
- ``workqueue_queue_duration_seconds`` — from a key's add to the worker's ``get``;
- ``workqueue_work_duration_seconds`` — from ``get`` to ``done``;
- ``workqueue_unfinished_work_seconds`` — seconds of work in progress not yet observed, summed over
  the keys being processed; it grows steadily when a worker is stuck;
- ``workqueue_longest_running_processor_seconds`` — age of the oldest key being processed;
- ``workqueue_retries_total`` — delayed and rate-limited adds.

Controller metrics (:class:`ControllerMetrics`), labelled ``controller``:

- ``controller_runtime_reconcile_total`` (and ``result``: success, error, requeue_after,
  terminal_error), ``controller_runtime_reconcile_errors_total``,
  ``controller_runtime_terminal_reconcile_errors_total``;
- ``controller_runtime_reconcile_time_seconds`` — a histogram of reconcile durations;
- ``controller_runtime_active_workers``, ``controller_runtime_max_concurrent_reconciles``.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from .clock import Clock

__all__ = ["ControllerMetrics", "QueueMetrics", "WorkQueueMetrics"]

# -- work queue --------------------------------------------------------------------------------

# controller-runtime's buckets: prometheus.ExponentialBuckets(10e-9, 10, 12), 10 ns to 1000 s.
_WORKQUEUE_BUCKETS: tuple[float, ...] = tuple(10e-9 * 10.0**i for i in range(12))
_WQ_LABELS = ("name", "controller")


class WorkQueueMetrics:
    """The ``workqueue_*`` metric families on one registry; :meth:`for_queue` binds a queue."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry if registry is not None else CollectorRegistry()
        reg = self.registry
        self.depth = Gauge(
            "workqueue_depth", "Current depth of workqueue", _WQ_LABELS, registry=reg
        )
        self.adds = Counter(
            "workqueue_adds", "Total number of adds handled by workqueue", _WQ_LABELS, registry=reg
        )
        self.queue_duration = Histogram(
            "workqueue_queue_duration_seconds",
            "How long in seconds an item stays in workqueue before being requested",
            _WQ_LABELS,
            buckets=_WORKQUEUE_BUCKETS,
            registry=reg,
        )
        self.work_duration = Histogram(
            "workqueue_work_duration_seconds",
            "How long in seconds processing an item from workqueue takes.",
            _WQ_LABELS,
            buckets=_WORKQUEUE_BUCKETS,
            registry=reg,
        )
        self.unfinished_work = Gauge(
            "workqueue_unfinished_work_seconds",
            "How many seconds of work has been done that is in progress and hasn't been "
            "observed by work_duration. Large values indicate stuck threads. One can deduce "
            "the number of stuck threads by observing the rate at which this increases.",
            _WQ_LABELS,
            registry=reg,
        )
        self.longest_running_processor = Gauge(
            "workqueue_longest_running_processor_seconds",
            "How many seconds has the longest running processor for workqueue been running.",
            _WQ_LABELS,
            registry=reg,
        )
        self.retries = Counter(
            "workqueue_retries",
            "Total number of retries handled by workqueue",
            _WQ_LABELS,
            registry=reg,
        )

    def for_queue(self, name: str, *, clock: Clock, depth: Callable[[], int]) -> QueueMetrics:
        """Return the recorder one queue calls; ``depth`` is read at scrape time."""
        return QueueMetrics(self, name, clock=clock, depth=depth)


class QueueMetrics:
    """One queue's recorder: the queue calls it on add, get, done and retry.

    Gauges that describe a state (depth, unfinished work, longest running processor) are
    computed when scraped, so the queue pays nothing for them between scrapes.
    """

    def __init__(
        self, family: WorkQueueMetrics, name: str, *, clock: Clock, depth: Callable[[], int]
    ) -> None:
        self._clock = clock
        self._added_at: dict[Hashable, float] = {}
        self._started_at: dict[Hashable, float] = {}
        self._adds = family.adds.labels(name, name)
        self._retries = family.retries.labels(name, name)
        self._queue_duration = family.queue_duration.labels(name, name)
        self._work_duration = family.work_duration.labels(name, name)
        family.depth.labels(name, name).set_function(depth)
        family.unfinished_work.labels(name, name).set_function(self.unfinished_work_seconds)
        family.longest_running_processor.labels(name, name).set_function(
            self.longest_running_seconds
        )

    def add(self, key: Hashable) -> None:
        """Count a key entering the queue; its queue duration starts now."""
        self._adds.inc()
        self._added_at.setdefault(key, self._clock.monotonic())

    def get(self, key: Hashable) -> None:
        """Observe how long ``key`` waited; its work duration starts now."""
        now = self._clock.monotonic()
        added = self._added_at.pop(key, None)
        if added is not None:
            self._queue_duration.observe(now - added)
        self._started_at[key] = now

    def done(self, key: Hashable) -> None:
        """Observe how long ``key`` was worked on."""
        started = self._started_at.pop(key, None)
        if started is not None:
            self._work_duration.observe(self._clock.monotonic() - started)

    def retry(self) -> None:
        """Count a delayed or rate-limited add."""
        self._retries.inc()

    def drop_pending(self) -> None:
        """Forget the add times of keys the queue dropped without handing them out."""
        self._added_at.clear()

    def unfinished_work_seconds(self) -> float:
        """Return the seconds of work in progress, summed over the keys being processed."""
        now = self._clock.monotonic()
        return sum(now - started for started in self._started_at.values())

    def longest_running_seconds(self) -> float:
        """Return how long the oldest key in progress has been processed, or 0."""
        if not self._started_at:
            return 0.0
        return self._clock.monotonic() - min(self._started_at.values())


# -- controller (controller_runtime_*) metrics: added separately ---------------------------------


# -- controllers -------------------------------------------------------------------------------
class ControllerMetrics:
    """controller-runtime's ``controller_runtime_*`` metrics, on an injectable registry."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        reg = registry if registry is not None else CollectorRegistry()
        self.registry = reg
        self.reconcile_total = Counter(
            "controller_runtime_reconcile_total",
            "Total number of reconciliations per controller",
            ["controller", "result"], registry=reg,
        )
        self.reconcile_errors = Counter(
            "controller_runtime_reconcile_errors_total",
            "Total number of reconciliation errors per controller",
            ["controller"], registry=reg,
        )
        self.terminal_errors = Counter(
            "controller_runtime_terminal_reconcile_errors_total",
            "Total number of terminal reconciliation errors per controller",
            ["controller"], registry=reg,
        )
        self.reconcile_time = Histogram(
            "controller_runtime_reconcile_time_seconds",
            "Length of time per reconciliation per controller",
            ["controller"], registry=reg,
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.35, 0.4, 0.45, 0.5,
                     0.6, 0.7, 0.8, 0.9, 1.0, 1.25, 1.5, 1.75, 2.0, 2.5, 3.0, 3.5, 4.0, 4.5, 5,
                     6, 7, 8, 9, 10, 15, 20, 25, 30, 40, 50, 60),
        )
        self.active_workers = Gauge(
            "controller_runtime_active_workers",
            "Number of currently used workers per controller",
            ["controller"], registry=reg,
        )
        self.max_workers = Gauge(
            "controller_runtime_max_concurrent_reconciles",
            "Maximum number of concurrent reconciles per controller",
            ["controller"], registry=reg,
        )

    def max_concurrent(self, controller: str, workers: int) -> None:
        """Publish the controller's worker count."""
        self.max_workers.labels(controller).set(workers)
        for result in ("success", "error", "requeue_after", "terminal_error"):
            self.reconcile_total.labels(controller, result)
        self.reconcile_errors.labels(controller)
        self.terminal_errors.labels(controller)

    def worker_started(self, controller: str) -> None:
        """A worker began a reconcile."""
        self.active_workers.labels(controller).inc()

    def observe(self, controller: str, result: str, seconds: float) -> None:
        """A reconcile ended with ``result`` after ``seconds``."""
        self.active_workers.labels(controller).dec()
        self.reconcile_total.labels(controller, result).inc()
        self.reconcile_time.labels(controller).observe(seconds)
        if result == "error":
            self.reconcile_errors.labels(controller).inc()
        elif result == "terminal_error":
            self.reconcile_errors.labels(controller).inc()
            self.terminal_errors.labels(controller).inc()
