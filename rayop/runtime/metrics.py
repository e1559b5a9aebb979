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

from bisect import bisect_left
from collections.abc import Callable, Hashable, Iterator

from prometheus_client import CollectorRegistry
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)

from rayop.runtime.clock import Clock

__all__ = ["ControllerMetrics", "QueueMetrics", "WorkQueueMetrics"]

# -- work queue --------------------------------------------------------------------------------
# The queue records on its hot path, so its recorder keeps plain numbers (an int increment, a
# bisect into the buckets) and a collector turns them into metric families when scraped;
# prometheus-client's Counter/Histogram take a lock per call and cost several times more.

# controller-runtime's buckets: prometheus.ExponentialBuckets(10e-9, 10, 12), 10 ns to 1000 s.
_WORKQUEUE_BUCKETS: tuple[float, ...] = tuple(10e-9 * 10.0**i for i in range(12))
# "le" as prometheus-client writes it
_BUCKET_LABELS = (*(repr(b) for b in _WORKQUEUE_BUCKETS), "+Inf")
_WQ_LABELS = ("name", "controller")
_HELP = {
    "depth": "Current depth of workqueue",
    "adds": "Total number of adds handled by workqueue",
    "queue_duration": "How long in seconds an item stays in workqueue before being requested",
    "work_duration": "How long in seconds processing an item from workqueue takes.",
    "unfinished": "How many seconds of work has been done that is in progress and hasn't been "
    "observed by work_duration. Large values indicate stuck threads. One can deduce the number "
    "of stuck threads by observing the rate at which this increases.",
    "longest": "How many seconds has the longest running processor for workqueue been running.",
    "retries": "Total number of retries handled by workqueue",
}


class WorkQueueMetrics:
    """The ``workqueue_*`` metrics of every queue bound with :meth:`for_queue`, on one registry."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry if registry is not None else CollectorRegistry()
        self._queues: dict[str, QueueMetrics] = {}
        self.registry.register(_WorkQueueCollector(self._queues))

    def for_queue(self, name: str, *, clock: Clock, depth: Callable[[], int]) -> QueueMetrics:
        """Return the recorder one queue calls; ``depth`` is read at scrape time.

        A second queue of the same name (a controller made again) takes over the name and
        continues its counters, so they never go back.
        """
        recorder = QueueMetrics(clock=clock, depth=depth)
        previous = self._queues.get(name)
        if previous is not None:
            recorder.continue_from(previous)
        self._queues[name] = recorder
        return recorder


class _Histogram:
    """Bucket counts and a sum; :meth:`observe` is a bisect and two additions."""

    __slots__ = ("bounds", "counts", "labels", "total")

    def __init__(
        self, bounds: tuple[float, ...] = _WORKQUEUE_BUCKETS,
        labels: tuple[str, ...] = _BUCKET_LABELS,
    ) -> None:
        self.bounds, self.labels = bounds, labels
        self.counts = [0] * (len(bounds) + 1)
        self.total = 0.0

    def observe(self, value: float) -> None:
        self.counts[bisect_left(self.bounds, value)] += 1
        self.total += value

    def buckets(self) -> list[tuple[str, float]]:
        cumulative, out = 0, []
        for bound, count in zip(self.labels, self.counts, strict=True):
            cumulative += count
            out.append((bound, float(cumulative)))
        return out


class QueueMetrics:
    """One queue's recorder: the queue calls it on add, get, done and retry."""

    def __init__(self, *, clock: Clock, depth: Callable[[], int]) -> None:
        self._now = clock.monotonic  # RealClock's is time.monotonic itself: no frame per call
        self.depth = depth
        self.adds = 0
        self.retries = 0
        self.queue_duration = _Histogram()
        self.work_duration = _Histogram()
        self._added_at: dict[Hashable, float] = {}
        self._started_at: dict[Hashable, float] = {}

    def add(self, key: Hashable) -> None:
        """Count a key entering the queue; its queue duration starts now."""
        self.adds += 1
        self._added_at.setdefault(key, self._now())

    # get and done run once per key handed out: the histogram update is inlined (a bisect and
    # two additions), saving a call per observation on the queue's hot path.

    def get(self, key: Hashable) -> None:
        """Observe how long ``key`` waited; its work duration starts now."""
        now = self._now()
        added = self._added_at.pop(key, None)
        if added is not None:
            waited, hist = now - added, self.queue_duration
            hist.counts[bisect_left(hist.bounds, waited)] += 1
            hist.total += waited
        self._started_at[key] = now

    def done(self, key: Hashable) -> None:
        """Observe how long ``key`` was worked on."""
        started = self._started_at.pop(key, None)
        if started is not None:
            worked, hist = self._now() - started, self.work_duration
            hist.counts[bisect_left(hist.bounds, worked)] += 1
            hist.total += worked

    def retry(self) -> None:
        """Count a delayed or rate-limited add."""
        self.retries += 1

    def drop_pending(self) -> None:
        """Forget the add times of keys the queue dropped without handing them out."""
        self._added_at.clear()

    def continue_from(self, previous: QueueMetrics) -> None:
        """Carry on the counters and histograms of the queue this one replaces."""
        self.adds, self.retries = previous.adds, previous.retries
        self.queue_duration, self.work_duration = previous.queue_duration, previous.work_duration

    def unfinished_work_seconds(self) -> float:
        """Return the seconds of work in progress, summed over the keys being processed."""
        now = self._now()
        return sum(now - started for started in list(self._started_at.values()))

    def longest_running_seconds(self) -> float:
        """Return how long the oldest key in progress has been processed, or 0."""
        started = list(self._started_at.values())
        return self._now() - min(started) if started else 0.0


class _WorkQueueCollector:
    """Turns the recorders' numbers into controller-runtime's metric families when scraped."""

    def __init__(self, queues: dict[str, QueueMetrics]) -> None:
        self._queues = queues

    def collect(self) -> Iterator[Metric]:
        labels = _WQ_LABELS
        depth = GaugeMetricFamily("workqueue_depth", _HELP["depth"], labels=labels)
        adds = CounterMetricFamily("workqueue_adds", _HELP["adds"], labels=labels)
        queue_duration = HistogramMetricFamily(
            "workqueue_queue_duration_seconds", _HELP["queue_duration"], labels=labels
        )
        work_duration = HistogramMetricFamily(
            "workqueue_work_duration_seconds", _HELP["work_duration"], labels=labels
        )
        unfinished = GaugeMetricFamily(
            "workqueue_unfinished_work_seconds", _HELP["unfinished"], labels=labels
        )
        longest = GaugeMetricFamily(
            "workqueue_longest_running_processor_seconds", _HELP["longest"], labels=labels
        )
        retries = CounterMetricFamily("workqueue_retries", _HELP["retries"], labels=labels)
        for name, q in list(self._queues.items()):
            values = [name, name]
            depth.add_metric(values, q.depth())
            adds.add_metric(values, q.adds)
            queue_duration.add_metric(values, q.queue_duration.buckets(), q.queue_duration.total)
            work_duration.add_metric(values, q.work_duration.buckets(), q.work_duration.total)
            unfinished.add_metric(values, q.unfinished_work_seconds())
            longest.add_metric(values, q.longest_running_seconds())
            retries.add_metric(values, q.retries)
        yield from (depth, adds, queue_duration, work_duration, unfinished, longest, retries)


# -- controllers -------------------------------------------------------------------------------
# Recorded per reconcile, so kept the same way as the queue's: plain numbers, turned into metric
# families by a collector when scraped (prometheus-client's metric objects take a lock per call).

# controller-runtime's reconcile_time buckets
_RECONCILE_BUCKETS: tuple[float, ...] = (
    0.005, 0.01, 0.025, 0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.35, 0.4, 0.45, 0.5, 0.6, 0.7, 0.8,
    0.9, 1.0, 1.25, 1.5, 1.75, 2.0, 2.5, 3.0, 3.5, 4.0, 4.5, 5.0, 6.0, 7.0, 8.0, 9.0, 10.0, 15.0,
    20.0, 25.0, 30.0, 40.0, 50.0, 60.0,
)
_RECONCILE_LABELS = (*(repr(b) for b in _RECONCILE_BUCKETS), "+Inf")  # 0.005, 5.0, as Go
_RESULTS = ("success", "error", "requeue_after", "terminal_error")


class _ControllerSeries:
    """The numbers of one controller."""

    __slots__ = ("active", "errors", "results", "terminal", "time", "workers")

    def __init__(self) -> None:
        self.active = 0
        self.workers = 0
        self.results = dict.fromkeys(_RESULTS, 0)
        self.errors = 0
        self.terminal = 0
        self.time = _Histogram(_RECONCILE_BUCKETS, _RECONCILE_LABELS)


class ControllerMetrics:
    """controller-runtime's ``controller_runtime_*`` metrics, on an injectable registry."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry if registry is not None else CollectorRegistry()
        self._series: dict[str, _ControllerSeries] = {}
        self.registry.register(_ControllerCollector(self._series))

    def _of(self, controller: str) -> _ControllerSeries:
        series = self._series.get(controller)
        if series is None:
            series = self._series[controller] = _ControllerSeries()
        return series

    def max_concurrent(self, controller: str, workers: int) -> None:
        """Publish the controller's worker count (and every series at zero)."""
        self._of(controller).workers = workers

    def worker_started(self, controller: str) -> None:
        """A worker began a reconcile."""
        self._of(controller).active += 1

    def observe(self, controller: str, result: str, seconds: float) -> None:
        """A reconcile ended with ``result`` after ``seconds``."""
        series = self._of(controller)
        series.active -= 1
        series.results[result] = series.results.get(result, 0) + 1
        series.time.observe(seconds)
        if result == "error":
            series.errors += 1
        elif result == "terminal_error":
            series.errors += 1
            series.terminal += 1


class _ControllerCollector:
    """Turns the controllers' numbers into controller-runtime's metric families when scraped."""

    def __init__(self, series: dict[str, _ControllerSeries]) -> None:
        self._series = series

    def collect(self) -> Iterator[Metric]:
        total = CounterMetricFamily("controller_runtime_reconcile",
                                    "Total number of reconciliations per controller",
                                    labels=("controller", "result"))
        errors = CounterMetricFamily("controller_runtime_reconcile_errors",
                                     "Total number of reconciliation errors per controller",
                                     labels=("controller",))
        terminal = CounterMetricFamily(
            "controller_runtime_terminal_reconcile_errors",
            "Total number of terminal reconciliation errors per controller",
            labels=("controller",))
        time_s = HistogramMetricFamily("controller_runtime_reconcile_time_seconds",
                                       "Length of time per reconciliation per controller",
                                       labels=("controller",))
        active = GaugeMetricFamily("controller_runtime_active_workers",
                                   "Number of currently used workers per controller",
                                   labels=("controller",))
        workers = GaugeMetricFamily("controller_runtime_max_concurrent_reconciles",
                                    "Maximum number of concurrent reconciles per controller",
                                    labels=("controller",))
        for name, s in list(self._series.items()):
            for result, count in s.results.items():
                total.add_metric([name, result], count)
            errors.add_metric([name], s.errors)
            terminal.add_metric([name], s.terminal)
            time_s.add_metric([name], s.time.buckets(), s.time.total)
            active.add_metric([name], s.active)
            workers.add_metric([name], s.workers)
        yield from (total, errors, terminal, time_s, active, workers)
