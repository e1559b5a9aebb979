"""The manager's HTTP endpoints: ``/metrics``, ``/healthz`` and ``/readyz``, served with aiohttp.

kubebuilder serves metrics and probes on two addresses (``--metrics-bind-address``,
``--health-probe-bind-address``); :class:`Endpoints` does the same, or both on one when the
addresses name the same fixed port (port 0 gives each its own free port).
``/healthz`` answers 200 while the manager's event loop runs; ``/readyz``
answers 200 once every informer has synced (503 before, with the reason), as controller-runtime's
default ready check does.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

__all__ = ["Endpoints", "parse_bind_address"]


def parse_bind_address(address: str) -> tuple[str, int] | None:
    """``":8080"`` → ``("0.0.0.0", 8080)``; ``"127.0.0.1:0"`` → a free port; ``"0"`` → off."""
    if address in ("", "0"):
        return None
    host, _, port = address.rpartition(":")
    return (host or "0.0.0.0", int(port))


@dataclass
class Endpoints:
    """Serves metrics from a registry and probes from two callables."""

    registry: CollectorRegistry
    ready: Callable[[], tuple[bool, str]]
    healthy: Callable[[], tuple[bool, str]] = lambda: (True, "ok")
    metrics_address: str = ":8080"
    probe_address: str = ":8081"
    _runners: list[web.AppRunner] = field(default_factory=list)
    bound: dict[str, tuple[str, int]] = field(default_factory=dict)

    async def start(self) -> None:
        """Bind and serve; ``bound`` then maps "metrics" / "probes" to the real addresses."""
        targets: dict[object, tuple[tuple[str, int], list[str]]] = {}
        for role, address in (("metrics", self.metrics_address), ("probes", self.probe_address)):
            parsed = parse_bind_address(address)
            if parsed is not None:
                # one server when both name the same fixed port; port 0 means a port each
                key = parsed if parsed[1] else role
                targets.setdefault(key, (parsed, []))[1].append(role)
        for (host, port), roles in targets.values():
            app = web.Application()
            if "metrics" in roles:
                app.router.add_get("/metrics", self._metrics)
            if "probes" in roles:
                app.router.add_get("/healthz", self._healthz)
                app.router.add_get("/readyz", self._readyz)
            runner = web.AppRunner(app, access_log=None)
            await runner.setup()
            site = web.TCPSite(runner, host, port)
            await site.start()
            server = site._server
            sockets = getattr(server, "sockets", None) or []
            actual = sockets[0].getsockname()[:2] if sockets else (host, port)
            for role in roles:
                self.bound[role] = (str(actual[0]), int(actual[1]))
            self._runners.append(runner)

    async def stop(self) -> None:
        """Stop serving."""
        for runner in self._runners:
            await runner.cleanup()
        self._runners.clear()

    async def _metrics(self, request: web.Request) -> web.Response:
        body = generate_latest(self.registry)
        return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})

    async def _healthz(self, request: web.Request) -> web.Response:
        return _probe(self.healthy())

    async def _readyz(self, request: web.Request) -> web.Response:
        return _probe(self.ready())


def _probe(result: tuple[bool, str]) -> web.Response:
    ok, reason = result
    return web.Response(status=200 if ok else 503, text=reason + "\n")
