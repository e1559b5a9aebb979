"""``rayop run``: the operator against a real cluster, with kubebuilder's flags.

Every flag has a ``RAYOP_*`` environment equivalent (``--leader-elect`` ↔ ``RAYOP_LEADER_ELECT``,
``--namespace`` ↔ ``RAYOP_NAMESPACE`` as a comma-separated list); a flag given on the command
line wins over its variable, and a bad value in either is a usage error naming where it came
from. SIGTERM and SIGINT drain in-flight reconciles (within ``--graceful-shutdown-timeout``) and
exit 0; losing the leader lease exits 1 at once; no cluster configuration, or informers that
cannot sync, exit 1 with one line saying why.

The cluster is found as controller-runtime finds it: ``--kubeconfig``, then ``$KUBECONFIG``, then
the pod's service account (in-cluster), then ``~/.kube/config``.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import socket
import sys
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import structlog

from rayop.operator.controllers import CONTROLLERS, OperatorOptions, add_ray_controllers
from rayop.ray.dashboard import DashboardLocator, DashboardProvider
from rayop.ray.kinds import RAY_KINDS
from rayop.runtime.client import ClusterClient
from rayop.runtime.clock import Clock
from rayop.runtime.endpoints import Endpoints
from rayop.runtime.errors import RayopError
from rayop.runtime.leader import LeaderElectionConfig
from rayop.runtime.logs import configure_logging
from rayop.runtime.manager import LeaderElectionLost, Manager, ManagerOptions

__all__ = [
    "COMMON_FLAGS",
    "RUN_FLAGS",
    "Flag",
    "add_common_flags",
    "configure_run",
    "dashboards_for",
    "env_name",
    "operate",
    "resolve_flags",
    "run_command",
    "serve_manager",
]

_log = structlog.get_logger("rayop.cli")

LOG_LEVELS = ("debug", "info", "warning", "error")


def parse_bool(text: str) -> bool:
    """Parse a boolean as Go's ``flag`` package does (``true``/``false``/``1``/``0``...)."""
    value = text.strip().lower()
    if value in ("1", "t", "true", "yes", "on"):
        return True
    if value in ("0", "f", "false", "no", "off"):
        return False
    raise ValueError(f"not a boolean: {text!r} (use true or false)")


def _int(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise ValueError(f"not a whole number: {text!r}") from None


def _positive_int(text: str) -> int:
    value = _int(text)
    if value < 1:
        raise ValueError(f"must be at least 1, got {value}")
    return value


def _non_negative(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise ValueError(f"not a number: {text!r}") from None
    if not value >= 0:
        raise ValueError(f"must be 0 or more, got {text}")
    return value


def _controllers(text: str) -> list[str]:
    names = [c.strip() for c in text.split(",") if c.strip()]
    unknown = sorted(set(names) - set(CONTROLLERS))
    if unknown:
        raise ValueError(f"unknown controller(s) {', '.join(unknown)} "
                         f"(known: {', '.join(CONTROLLERS)})")
    if not names:
        raise ValueError("name at least one controller")
    return names


def _choice(*choices: str) -> Callable[[str], str]:
    def parse(text: str) -> str:
        if text.lower() not in choices:
            raise ValueError(f"{text!r} is not one of {', '.join(choices)}")
        return text.lower()

    return parse


def _selector(text: str) -> str:
    from rayop.runtime.selectors import LabelSelector

    try:
        LabelSelector.parse(text)
    except RayopError as err:  # the API's 400 BadRequest, as a server would answer
        raise ValueError(getattr(err, "message", str(err))) from None
    return text


def _address(text: str) -> str:
    from rayop.runtime.endpoints import parse_bind_address

    parse_bind_address(text)  # raises ValueError on a bad port
    return text


@dataclass(frozen=True)
class Flag:
    """One command-line flag with its ``RAYOP_*`` variable, parser and default."""

    name: str
    help: str
    parse: Callable[[str], Any] = str
    default: Any = None
    repeatable: bool = False
    boolean: bool = False

    @property
    def dest(self) -> str:
        """The attribute name on the parsed namespace."""
        return self.name.lstrip("-").replace("-", "_")

    @property
    def env(self) -> str:
        """The environment variable that stands in for the flag."""
        return env_name(self.name)


def env_name(flag: str) -> str:
    """``--leader-elect`` → ``RAYOP_LEADER_ELECT``."""
    return "RAYOP_" + flag.lstrip("-").upper().replace("-", "_")


COMMON_FLAGS: tuple[Flag, ...] = (
    Flag("--controllers", "comma-separated controllers to run: "
         f"{', '.join(CONTROLLERS)} (default: all)", _controllers, list(CONTROLLERS)),
    Flag("--max-concurrent-reconciles", "workers per controller (default 1)", _positive_int, 1),
    Flag("--metrics-bind-address", 'where /metrics is served, HOST:PORT or :PORT; "0" turns it '
         "off (default :8080)", _address, ":8080"),
    Flag("--health-probe-bind-address", 'where /healthz and /readyz are served; "0" turns them '
         "off (default :8081)", _address, ":8081"),
    Flag("--log-format", "json or console (default console)", _choice("json", "console"),
         "console"),
    Flag("--log-level", f"{', '.join(LOG_LEVELS)} (default info)", _choice(*LOG_LEVELS), "info"),
    Flag("--graceful-shutdown-timeout", "seconds in-flight reconciles get to finish after SIGTERM "
         "(default 30)", _non_negative, 30.0),
)
"""Flags ``rayop run`` and ``rayop dev`` share."""

RUN_FLAGS: tuple[Flag, ...] = (
    Flag("--kubeconfig", "kubeconfig file (default: $KUBECONFIG, in-cluster, ~/.kube/config)"),
    Flag("--context", "kubeconfig context (default: the current one)"),
    Flag("--namespace", "watch only this namespace; repeatable (default: all namespaces)",
         str, [], repeatable=True),
    Flag("--selector", "reconcile only objects with these labels, e.g. app.kubernetes.io/managed-"
         "by=rayop (how rayop shares a cluster with another operator)", _selector),
    Flag("--leader-elect", "elect a leader with a Lease; only the leader reconciles "
         "(default false)", parse_bool, False, boolean=True),
    Flag("--leader-election-id", "name of the Lease (default rayop-leader)", str, "rayop-leader"),
    Flag("--leader-election-namespace", "namespace of the Lease (default: the pod's own, else "
         "default)"),
    Flag("--dashboard-access", "reach Ray dashboards directly (direct: the operator runs in the "
         "cluster) or through the API server's service proxy (proxy)",
         _choice("direct", "proxy"), "direct"),
)
"""Flags only ``rayop run`` has (besides :data:`COMMON_FLAGS`)."""


def add_flags(parser: argparse.ArgumentParser, flags: Sequence[Flag]) -> None:
    """Add ``flags`` to ``parser``; values stay raw until :func:`resolve_flags`."""
    for flag in flags:
        help_text = f"{flag.help} [env {flag.env}]"
        if flag.repeatable:
            parser.add_argument(flag.name, action="append", default=None, help=help_text)
        elif flag.boolean:
            parser.add_argument(flag.name, nargs="?", const="true", default=None,
                                metavar="true|false", help=help_text)
        else:
            parser.add_argument(flag.name, default=None, help=help_text)
    known = list(parser.get_default("_rayop_flags") or ())
    parser.set_defaults(_rayop_flags=(*known, *flags))


def add_common_flags(parser: argparse.ArgumentParser) -> None:
    """Flags ``run`` and ``dev`` share: controllers, concurrency, endpoints, logging."""
    add_flags(parser, COMMON_FLAGS)


def configure_run(parser: argparse.ArgumentParser) -> None:
    """Set up ``rayop run``'s parser."""
    add_flags(parser, RUN_FLAGS)
    add_common_flags(parser)


def resolve_flags(
    args: argparse.Namespace, environ: Mapping[str, str] | None = None
) -> argparse.Namespace:
    """Fill every flag not given from its ``RAYOP_*`` variable, else its default; parse each.

    Raises ``ValueError`` naming the flag or the variable when a value does not parse.
    """
    env = os.environ if environ is None else environ
    overrides: dict[str, Any] = getattr(args, "_rayop_defaults", {})
    for flag in getattr(args, "_rayop_flags", ()):
        given = getattr(args, flag.dest, None)
        source = flag.name
        if given is None and env.get(flag.env, "").strip():
            raw = env[flag.env]
            given = [v.strip() for v in raw.split(",") if v.strip()] if flag.repeatable else raw
            source = f"{flag.env}={raw!r}"
        if given is None:
            default = overrides.get(flag.dest, flag.default)
            setattr(args, flag.dest, list(default) if isinstance(default, list) else default)
            continue
        try:
            value = [flag.parse(v) for v in given] if flag.repeatable else flag.parse(given)
        except ValueError as err:
            raise ValueError(f"{source}: {err}") from None
        setattr(args, flag.dest, value)
    if "leader_election_namespace" in vars(args) and not args.leader_election_namespace:
        args.leader_election_namespace = _pod_namespace()
    return args


def resolve_or_exit(args: argparse.Namespace) -> argparse.Namespace:
    """:func:`resolve_flags`, or print a usage error and exit 2 as argparse would."""
    try:
        return resolve_flags(args)
    except ValueError as err:
        print(f"rayop {args.command}: error: {err}", file=sys.stderr)
        raise SystemExit(2) from None


def _pod_namespace() -> str:
    path = "/var/run/secrets/kubernetes.io/serviceaccount/namespace"
    try:
        with open(path) as handle:
            return handle.read().strip() or "default"
    except OSError:
        return "default"


def run_command(args: argparse.Namespace) -> int:
    """Run the operator until SIGTERM (exit 0) or a lost lease (exit 1)."""
    args = resolve_or_exit(args)
    configure_logging(fmt=args.log_format, level=args.log_level)
    return asyncio.run(_run(args))


def manager_options(args: argparse.Namespace) -> ManagerOptions:
    """The :class:`ManagerOptions` the resolved flags ask for."""
    leader = None
    if args.leader_elect:
        identity = f"{socket.gethostname()}_{uuid.uuid4()}"
        leader = LeaderElectionConfig(name=args.leader_election_id,
                                      namespace=args.leader_election_namespace, identity=identity)
    return ManagerOptions(namespaces=tuple(args.namespace), label_selector=args.selector,
                          selector_kinds=RAY_KINDS, leader_election=leader,
                          graceful_shutdown_timeout=args.graceful_shutdown_timeout)


async def _run(args: argparse.Namespace) -> int:
    from rayop.kube import KubeClient, KubeConfigError

    try:
        client = await KubeClient.auto(args.kubeconfig, args.context)
    except KubeConfigError as err:
        _log.error("no cluster to run against", error=str(err))
        return 1
    dashboards = dashboards_for(client, args.dashboard_access)
    try:
        return await operate(client, dashboards, args)
    finally:
        await dashboards.aclose()
        await client.close()


def dashboards_for(client: Any, access: str) -> Any:
    """The dashboard clients ``--dashboard-access`` asks for, on the real backend ``client``.

    ``proxy`` goes through the API server's service proxy with the kube client's own HTTP session
    (its TLS: the cluster's CA, client certificates) and bearer token, if it has one.
    """
    from rayop.ray.dashboard_http import HttpDashboards

    if access != "proxy":
        return HttpDashboards(DashboardLocator())
    locator = DashboardLocator(mode="api-proxy", api_server=client.host,
                               api_headers=_auth_headers(client))
    return HttpDashboards(locator, session=client.api_client.rest_client.pool_manager)


async def operate(
    client: ClusterClient,
    dashboards: DashboardProvider,
    args: argparse.Namespace,
    *,
    clock: Clock | None = None,
) -> int:
    """Build the manager the resolved ``args`` describe on ``client`` and serve it to the end."""
    manager = Manager(client, clock=clock, options=manager_options(args))
    add_ray_controllers(manager, dashboards, controllers=args.controllers,
                        options=OperatorOptions(
                            max_concurrent_reconciles=args.max_concurrent_reconciles))
    return await serve_manager(manager, args)


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
        loop.add_signal_handler(sig, _stopper(manager, sig))
    try:
        await manager.run()
        _log.info("exiting: stopped cleanly")
        return 0
    except LeaderElectionLost:
        _log.error("exiting: the leader lease was lost")
        return 1
    except TimeoutError:
        _log.error("exiting: the informers did not sync in time; can the operator list and "
                   "watch its kinds (RBAC, CRDs installed)?")
        return 1
    except RayopError as err:
        _log.error("exiting", error=str(err))
        return 1
    finally:
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(sig)
        await endpoints.stop()


def _stopper(manager: Manager, sig: signal.Signals) -> Callable[[], None]:
    def stop() -> None:
        _log.info("signal received; draining", signal=sig.name)
        manager.request_stop()

    return stop


def _ready(manager: Manager) -> tuple[bool, str]:
    if not manager.synced:
        return False, "informers not synced"
    return True, "ok"


def _auth_headers(client: Any) -> dict[str, str]:
    """The bearer token kubernetes-asyncio sends (``api_key["BearerToken"]``), as a header."""
    config = client.api_client.configuration
    token = (config.api_key or {}).get("BearerToken")
    if not token:
        return {}
    prefix = (config.api_key_prefix or {}).get("BearerToken")
    if prefix and not str(token).startswith(prefix):
        token = f"{prefix} {token}"
    return {"Authorization": str(token)}
