"""``rayop dev``: the whole operator on the in-memory fake cluster — no cluster needed.

It applies the manifests given (default: ``examples/manifests/``) to a
:class:`~rayop.fakes.env.FakeEnv` — fake cluster, kubelet simulator, one fake Ray per RayCluster,
the manager with rayop's controllers — and prints each object's status as it changes, then a
table, until everything has settled or ``--timeout`` virtual seconds have passed. Virtual time
runs as fast as the operator lets it, so an hour of operator time takes seconds.

Exit status 0 only if every RayJob ``Succeeded`` and every RayService is ``RUNNING``.
``--keep-running`` then keeps serving (metrics and probes, virtual time paced to the wall clock)
until SIGTERM.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any, TextIO

from .client import RAYCLUSTER, RAYJOB, RAYSERVICE, Kind, Obj
from .clock import RealClock
from .endpoints import Endpoints
from .errors import ApiError
from .logs import configure_logging

__all__ = ["configure_dev", "dev_command", "summarize"]

_KINDS: dict[str, Kind] = {"RayJob": RAYJOB, "RayService": RAYSERVICE, "RayCluster": RAYCLUSTER}


def configure_dev(parser: argparse.ArgumentParser) -> None:
    """Set up ``rayop dev``'s parser."""
    from .cli_run import add_common_flags

    parser.add_argument("paths", nargs="*", type=Path, default=[Path("examples/manifests")],
                        metavar="FILE", help="manifests to apply (default: examples/manifests)")
    parser.add_argument("--timeout", type=float, default=3600.0,
                        help="give up after this many virtual seconds (default 3600)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the fake cluster and Ray")
    parser.add_argument("--keep-running", action="store_true",
                        help="after settling, keep serving until SIGTERM")
    add_common_flags(parser)
    parser.set_defaults(metrics_bind_address="0", health_probe_bind_address="0",
                        log_level="warning")


def dev_command(args: argparse.Namespace) -> int:
    """Run ``rayop dev``."""
    configure_logging(fmt=args.log_format, level=args.log_level)
    return asyncio.run(_dev(args, out=sys.stdout))


def _manifests(paths: list[Path]) -> Iterator[tuple[Path, Obj]]:
    from .cli import read_documents  # the same reader as ``rayop validate``

    for path in paths:
        files = sorted(p for p in path.rglob("*") if p.suffix in (".yaml", ".yml", ".json")) \
            if path.is_dir() else [path]
        for file in files:
            for doc in read_documents(file):
                if isinstance(doc, dict) and doc.get("kind") in _KINDS:
                    yield file, doc


def summarize(kind: str, obj: Obj) -> str:
    """One line of status for a RayJob, RayService or RayCluster."""
    st: dict[str, Any] = obj.get("status") or {}
    if kind == "RayJob":
        return (f"{st.get('status', '-')} ({st.get('jobDeploymentStatus') or 'New'})"
                f"{': ' + st['message'] if st.get('message') else ''}")
    if kind == "RayService":
        app = (st.get("appStatus") or {}).get("status", "-")
        return (f"{st.get('status', '-')} app={app} endpoints={st.get('numServeEndpoints', 0)}"
                f"{': ' + st['message'] if st.get('message') else ''}")
    return (f"{st.get('state') or 'not ready'} workers={st.get('readyWorkerReplicas', 0)}/"
            f"{st.get('desiredWorkerReplicas', 0)}")


def _settled(env: Any, names: list[tuple[str, str, str]]) -> bool:
    for kind, ns, name in names:
        st = env.status(_KINDS[kind], name, ns)
        if kind == "RayJob" and st.get("jobDeploymentStatus") not in (
                "Complete", "Failed", "ValidationFailed"):
            return False
        if kind == "RayService" and st.get("status") not in ("RUNNING", "FAILED"):
            return False
    return True


def _succeeded(env: Any, kind: str, ns: str, name: str) -> bool:
    st = env.status(_KINDS[kind], name, ns)
    if kind == "RayJob":
        return bool(st.get("status") == "Succeeded")
    if kind == "RayService":
        return bool(st.get("status") == "RUNNING")
    return True


async def _apply_all(env: Any, paths: list[Path], out: TextIO) -> tuple[list[Any], int]:
    names: list[tuple[str, str, str]] = []
    rejected = 0
    for file, doc in _manifests(paths):
        meta = doc.get("metadata") or {}
        ns = meta.get("namespace") or "default"
        label = f"{doc['kind']}/{meta.get('name')}"
        try:
            await env.apply(doc, kind=_KINDS[doc["kind"]])
        except ApiError as err:
            rejected += 1
            print(f"rejected {label} from {file}: {err.message}", file=out)
            continue
        names.append((doc["kind"], ns, str(meta.get("name"))))
        print(f"applied  {label} from {file}", file=out)
    return names, rejected


async def _dev(args: argparse.Namespace, *, out: TextIO) -> int:
    from .fakes.env import FakeEnv
    from .operator import OperatorOptions

    controllers = [c.strip() for c in args.controllers.split(",") if c.strip()]
    env = FakeEnv(seed=args.seed, controllers=controllers, operator=OperatorOptions(
        seed=args.seed, max_concurrent_reconciles=args.max_concurrent_reconciles))
    async with env:
        endpoints = Endpoints(env.manager.registry, ready=lambda: (env.manager.synced, "sync"),
                              metrics_address=args.metrics_bind_address,
                              probe_address=args.health_probe_bind_address)
        await endpoints.start()
        for role, (host, port) in endpoints.bound.items():
            print(f"serving {role} on http://{host}:{port}", file=out, flush=True)
        names, rejected = await _apply_all(env, args.paths, out)
        last: dict[tuple[str, str, str], str] = {}

        def report() -> None:
            for key in names:
                obj = env.get(_KINDS[key[0]], key[2], key[1])
                line = summarize(key[0], obj) if obj else "deleted"
                if last.get(key) != line:
                    last[key] = line
                    t = env.clock.monotonic()
                    print(f"[{t:7.1f}s] {key[0]}/{key[2]}: {line}", file=out, flush=True)

        try:
            await env.run_until(lambda: _settled(env, names), timeout=args.timeout,
                                on_step=report)
        except TimeoutError:
            print(f"not settled after {args.timeout:.0f} virtual seconds", file=out)
        report()
        ok = _table(env, names, out) and rejected == 0
        if args.keep_running:
            await _serve_until_signal(env)
        await endpoints.stop()
    return 0 if ok else 1


def _table(env: Any, names: list[tuple[str, str, str]], out: TextIO) -> bool:
    print(f"\n{'KIND':<11} {'NAME':<34} {'RESULT':<6} STATUS", file=out)
    ok = True
    for kind, ns, name in names:
        good = _succeeded(env, kind, ns, name)
        ok = ok and good
        obj = env.get(_KINDS[kind], name, ns)
        print(f"{kind:<11} {name:<34} {'ok' if good else 'FAIL':<6} "
              f"{summarize(kind, obj) if obj else 'deleted'}", file=out)
    return ok


async def _serve_until_signal(env: Any) -> None:
    """Keep the operator up, virtual time paced to the wall clock, until SIGTERM or SIGINT."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    env.clock.set_auto_advance(False)
    wall = RealClock()
    while not stop.is_set():
        await wall.sleep(0.05)
        await env.clock.advance(0.05)
    env.clock.set_auto_advance(True)
