"""``rayop run``: the operator against a real cluster, with kubebuilder's flags.

Every flag has a ``RAYOP_*`` environment equivalent (``--leader-elect`` ↔ ``RAYOP_LEADER_ELECT``);
a flag given on the command line wins. SIGTERM and SIGINT drain in-flight reconciles (within
``--graceful-shutdown-timeout``) and exit 0; losing the leader lease exits 1 at once.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import socket
import uuid
from typing import Any

import structlog

from .dashboard import DashboardLocator
from .endpoints import Endpoints
from .leader import LeaderElectionConfig
from .logs import configure_logging
from .manager import LeaderElectionLost, Manager, ManagerOptions
from .operator import CONTROLLERS, OperatorOptions, add_ray_controllers

__all__ = ["add_common_flags", "configure_run", "run_command"]

_log = structlog.get_logger("rayop.cli")


def _env(name: str, default: Any = None) -> Any:
    return os.environ.get("RAYOP_" + name.upper().replace("-", "_"), default)


def _env_bool(name: str) -> bool:
    return str(_env(name, "false")).lower() in ("1", "true", "yes", "on")


def add_common_flags(parser: argparse.ArgumentParser) -> None:
    """Flags ``run`` and ``dev`` share: controllers, concurrency, endpoints, logging."""
    parser.add_argument("--controllers", default=_env("controllers", ",".join(CONTROLLERS)),
                        help="comma-separated controllers to run (default: all)")
    parser.add_argument("--max-concurrent-reconciles", type=int,
                        default=int(_env("max-concurrent-reconciles", 1)))
    parser.add_argument("--metrics-bind-address", default=_env("metrics-bind-address", ":8080"),
                        help='where /metrics is served ("0" turns it off)')
    parser.add_argument("--health-probe-bind-address",
                        default=_env("health-probe-bind-address", ":8081"),
                        help='where /healthz and /readyz are served ("0" turns them off)')
    parser.add_argument("--log-format", choices=("json", "console"),
                        default=_env("log-format", "console"))
    parser.add_argument("--log-level", default=_env("log-level", "info"))
    parser.add_argument("--graceful-shutdown-timeout", type=float,
                        default=float(_env("graceful-shutdown-timeout", 30.0)))


def configure_run(parser: argparse.ArgumentParser) -> None:
    """Set up ``rayop run``'s parser."""
    parser.add_argument("--kubeconfig", default=_env("kubeconfig"))
    parser.add_argument("--context", default=_env("context"))
    parser.add_argument("--namespace", action="append",
                        default=[n for n in (_env("namespace") or "").split(",") if n],
                        help="watch only this namespace (repeatable; default: all)")
    parser.add_argument("--selector", default=_env("selector"),
                        help="reconcile only objects with these labels (e.g. owner=rayop)")
    parser.add_argument("--leader-elect", action="store_true", default=_env_bool("leader-elect"))
    parser.add_argument("--leader-election-id", default=_env("leader-election-id", "rayop-leader"))
    parser.add_argument("--leader-election-namespace",
                        default=_env("leader-election-namespace", _pod_namespace()))
    parser.add_argument("--dashboard-access", choices=("direct", "proxy"),
                        default=_env("dashboard-access", "direct"),
                        help="reach Ray dashboards directly (in-cluster) or via the API server")
    add_common_flags(parser)


def _pod_namespace() -> str:
    path = "/var/run/secrets/kubernetes.io/serviceaccount/namespace"
    try:
        with open(path) as handle:
            return handle.read().strip() or "default"
    except OSError:
        return "default"


def run_command(args: argparse.Namespace) -> int:
    """Run the operator until SIGTERM (exit 0) or a lost lease (exit 1)."""
    configure_logging(fmt=args.log_format, level=args.log_level)
    return asyncio.run(_run(args))


def _options(args: argparse.Namespace) -> ManagerOptions:
    leader = None
    if args.leader_elect:
        identity = f"{socket.gethostname()}_{uuid.uuid4()}"
        leader = LeaderElectionConfig(name=args.leader_election_id,
                                      namespace=args.leader_election_namespace, identity=identity)
    return ManagerOptions(namespaces=tuple(args.namespace), label_selector=args.selector,
                          leader_election=leader,
                          graceful_shutdown_timeout=args.graceful_shutdown_timeout)


async def _run(args: argparse.Namespace) -> int:
    from .dashboard_http import HttpDashboards
    from .kube import KubeClient

    client = await KubeClient.auto(args.kubeconfig, args.context)
    locator = DashboardLocator()
    if args.dashboard_access == "proxy":
        locator = DashboardLocator(mode="api-proxy", api_server=client.host,
                                   api_headers=_auth_headers(client))
    dashboards = HttpDashboards(locator)
    manager = Manager(client, options=_options(args))
    add_ray_controllers(manager, dashboards, controllers=_split(args.controllers),
                        options=OperatorOptions(
                            max_concurrent_reconciles=args.max_concurrent_reconciles))
    try:
        return await serve_manager(manager, args)
    finally:
        await dashboards.aclose()
        await client.close()


async def serve_manager(manager: Manager, args: argparse.Namespace) -> int:
    """Run ``manager`` with its endpoints and signal handlers; return the exit status."""
    endpoints = Endpoints(
        manager.registry, ready=lambda: _ready(manager),
        metrics_address=args.metrics_bind_address, probe_address=args.health_probe_bind_address,
    )
    await endpoints.start()
    _log.info("serving endpoints", **{k: f"{h}:{p}" for k, (h, p) in endpoints.bound.items()})
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, manager.stop)
    try:
        await manager.run()
        return 0
    except LeaderElectionLost:
        _log.error("exiting: the leader lease was lost")
        return 1
    finally:
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(sig)
        await endpoints.stop()


def _ready(manager: Manager) -> tuple[bool, str]:
    if not manager.synced:
        return False, "informers not synced"
    return True, "ok"


def _split(text: str) -> list[str]:
    return [c.strip() for c in text.split(",") if c.strip()]


def _auth_headers(client: Any) -> dict[str, str]:
    token = getattr(client.api_client.configuration, "api_key", {}).get("authorization")
    return {"Authorization": token} if token else {}
