"""``rayop dev``: the whole operator on the in-memory fake cluster — no cluster needed.

It applies the manifests given (default: ``examples/manifests/``) to a
:class:`~rayop.testing.env.FakeEnv` — fake cluster, kubelet simulator, one fake Ray per RayCluster,
the manager with rayop's controllers — and prints each object's status as it changes, then a
table, until everything has settled or ``--timeout`` seconds have passed. Time is virtual and
runs as fast as the operator lets it, so an hour of operator time takes seconds.

Exit status 0 only if every manifest was accepted, every RayJob ``Succeeded`` and every
RayService is ``RUNNING``. An invalid object is reported with the field at fault and the others
carry on. ``--keep-running`` then keeps serving (metrics and probes, virtual time paced to the
wall clock) until SIGTERM or SIGINT, which end the run cleanly at any point.

``--real-ray`` makes head pods real: each RayCluster's head becomes a local ``ray start --head``
on 127.0.0.1 (:mod:`rayop.ray.fakes.realray`), so entrypoints really run and Serve applications
really answer; time then follows the wall clock.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any, TextIO

from rayop.ray.kinds import RAYCLUSTER, RAYJOB, RAYSERVICE
from rayop.runtime.client import NAMESPACE, Kind, Obj
from rayop.runtime.clock import RealClock, VirtualClock
from rayop.runtime.endpoints import Endpoints
from rayop.runtime.errors import ApiError, NotFound
from rayop.runtime.logs import configure_logging

__all__ = ["configure_dev", "dev_command", "summarize"]

_KINDS: dict[str, Kind] = {"RayJob": RAYJOB, "RayService": RAYSERVICE, "RayCluster": RAYCLUSTER}
_Key = tuple[str, str, str]  # kind, namespace, name


def configure_dev(parser: argparse.ArgumentParser) -> None:
    """Set up ``rayop dev``'s parser."""
    from rayop.cli.run import add_common_flags

    parser.add_argument("paths", nargs="*", type=Path, default=[Path("examples/manifests")],
                        metavar="FILE", help="manifests to apply (default: examples/manifests)")
    parser.add_argument("--timeout", type=float, default=None,
                        help="give up after this many seconds of operator time (default 3600; "
                             "600 with --real-ray, where they are wall-clock seconds)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the fake cluster and Ray")
    parser.add_argument("--keep-running", action="store_true",
                        help="after settling, keep serving until SIGTERM or SIGINT")
    parser.add_argument("--real-ray", action="store_true",
                        help="run a real local Ray head (ray start --head, 127.0.0.1) for each "
                             "RayCluster; needs ray[default,serve]")
    add_common_flags(parser)
    from rayop.cli.devserver import add_api_flags

    add_api_flags(parser)
    # dev's own defaults: endpoints off (a laptop may run several), quieter logs
    parser.set_defaults(_rayop_defaults={"metrics_bind_address": "0",
                                         "health_probe_bind_address": "0",
                                         "log_level": "warning"})


def dev_command(args: argparse.Namespace) -> int:
    """Run ``rayop dev``."""
    from rayop.cli.run import resolve_or_exit

    args = resolve_or_exit(args)
    if args.real_ray:
        from rayop.ray.fakes.realray import ray_missing

        missing = ray_missing()
        if missing is not None:
            print(f"rayop dev: {missing}", file=sys.stderr)
            return 2
    configure_logging(fmt=args.log_format, level=args.log_level)
    return asyncio.run(_dev(args, out=sys.stdout))


def _manifests(paths: list[Path]) -> Iterator[tuple[Path, Obj]]:
    from rayop.cli.documents import read_documents  # the same reader as ``rayop validate``

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


def _label(key: _Key) -> str:
    kind, ns, name = key
    return f"{kind}/{name}" if ns == "default" else f"{kind}/{ns}/{name}"


def _settled(env: Any, names: list[_Key]) -> bool:
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


async def _apply_all(env: Any, paths: list[Path], out: TextIO) -> tuple[list[_Key], int]:
    names: list[_Key] = []
    rejected = 0
    try:
        found = list(_manifests(paths))
    except ValueError as err:
        print(f"cannot read manifests: {err}", file=out)
        return names, 1
    namespaces = {"default"}
    for file, doc in found:
        meta = doc.get("metadata") or {}
        key = (str(doc["kind"]), str(meta.get("namespace") or "default"), str(meta.get("name")))
        if key[1] not in namespaces:
            namespaces.add(key[1])
            await _ensure_namespace(env, key[1], out)
        try:
            await env.apply(doc, kind=_KINDS[doc["kind"]])
        except ApiError as err:
            rejected += 1
            print(f"rejected {_label(key)} from {file}: {err.message}", file=out, flush=True)
            continue
        names.append(key)
        print(f"applied  {_label(key)} from {file}", file=out, flush=True)
    return names, rejected


async def _ensure_namespace(env: Any, name: str, out: TextIO) -> None:
    """Create namespace ``name`` in the fake cluster unless it exists (dev's convenience)."""
    try:
        await env.cluster.get(NAMESPACE, name)
    except NotFound:
        with contextlib.suppress(ApiError):  # an invalid name: the apply reports it
            await env.cluster.create(NAMESPACE, {"apiVersion": "v1", "kind": "Namespace",
                                                 "metadata": {"name": name}})
            print(f"created  Namespace/{name}", file=out, flush=True)


class _Progress:
    """Prints an object's status line whenever it changes."""

    def __init__(self, env: Any, names: list[_Key], out: TextIO) -> None:
        self.env, self.names, self.out = env, names, out
        self.last: dict[_Key, str] = {}

    def __call__(self) -> None:
        for key in self.names:
            obj = self.env.get(_KINDS[key[0]], key[2], key[1])
            line = summarize(key[0], obj) if obj else "deleted"
            if self.last.get(key) != line:
                self.last[key] = line
                t = self.env.clock.monotonic()
                print(f"[{t:7.1f}s] {_label(key)}: {line}", file=self.out, flush=True)


def _make_env(args: argparse.Namespace, out: TextIO) -> tuple[Any, Any]:
    """The FakeEnv for ``args``, and the real Ray heads when ``--real-ray`` (else None)."""
    from rayop.operator.controllers import OperatorOptions
    from rayop.testing.env import FakeEnv

    workers = args.max_concurrent_reconciles
    options = OperatorOptions(seed=args.seed, max_concurrent_reconciles=workers)
    if not args.real_ray:
        return FakeEnv(seed=args.seed, controllers=args.controllers, operator=options), None
    from rayop.ray.fakes.realray import RealRayHead, RealRayHeads

    clock = VirtualClock(auto_advance=False)  # paced: follows the wall clock (FakeEnv)

    def started(head: RealRayHead) -> None:
        print(f"real Ray head for RayCluster {head.key[0]}/{head.key[1]}: dashboard "
              f"http://127.0.0.1:{head.ports.dashboard} serve http://127.0.0.1:{head.ports.serve}"
              f" (log {head.log_path})", file=out, flush=True)

    heads = RealRayHeads(clock=clock, on_start=started)
    env = FakeEnv(seed=args.seed, controllers=args.controllers, clock=clock, provider=heads,
                  paced=True,
                  operator=OperatorOptions(seed=args.seed, job_poll_interval=1.0,
                                           max_concurrent_reconciles=workers))
    env.kubelet.on_pod_change(heads.observe_pod)
    return env, heads


async def _dev(args: argparse.Namespace, *, out: TextIO) -> int:
    env, heads = _make_env(args, out)
    timeout = args.timeout if args.timeout is not None else (600.0 if heads else 3600.0)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    try:
        async with env:
            endpoints = Endpoints(env.manager.registry,
                                  ready=lambda: (env.manager.synced, "informers synced"
                                                 if env.manager.synced else "informers syncing"),
                                  metrics_address=args.metrics_bind_address,
                                  probe_address=args.health_probe_bind_address)
            await endpoints.start()
            from rayop.cli.devserver import start_api

            api = await start_api(env, args, out)
            try:
                return await _session(env, args, timeout, stop, endpoints, out)
            finally:
                if api is not None:
                    await api.stop()
                await endpoints.stop()
    finally:
        if heads is not None:
            print("stopping the real Ray heads", file=out, flush=True)
            await heads.aclose()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(sig)


async def _session(env: Any, args: argparse.Namespace, timeout: float, stop: asyncio.Event,
                   endpoints: Endpoints, out: TextIO) -> int:
    for role, (host, port) in endpoints.bound.items():
        print(f"serving {role} on http://{host}:{port}", file=out, flush=True)
    names, rejected = await _apply_all(env, args.paths, out)
    progress = _Progress(env, names, out)
    try:
        await env.run_until(lambda: stop.is_set() or _settled(env, names), timeout=timeout,
                            on_step=progress)
    except TimeoutError:
        print(f"not settled after {timeout:.0f} seconds", file=out)
    progress()
    if stop.is_set():
        print("interrupted: stopping", file=out, flush=True)
    ok = _table(env, names, out) and rejected == 0
    if args.keep_running and not stop.is_set():
        print("running until SIGTERM or SIGINT", file=out, flush=True)
        await _serve_until(env, stop, progress, paced=args.real_ray)
        print("signal received: stopping", file=out, flush=True)
    return 0 if ok else 1


def _table(env: Any, names: list[_Key], out: TextIO) -> bool:
    print(f"\n{'KIND':<11} {'NAMESPACE':<12} {'NAME':<30} {'RESULT':<6} STATUS", file=out)
    ok = True
    for kind, ns, name in names:
        good = _succeeded(env, kind, ns, name)
        ok = ok and good
        obj = env.get(_KINDS[kind], name, ns)
        print(f"{kind:<11} {ns:<12} {name:<30} {'ok' if good else 'FAIL':<6} "
              f"{summarize(kind, obj) if obj else 'deleted'}", file=out, flush=True)
    return ok


async def _serve_until(env: Any, stop: asyncio.Event, progress: _Progress, *, paced: bool) -> None:
    """Keep the operator up, virtual time paced to the wall clock, until ``stop`` is set."""
    wall = RealClock()
    if not paced:
        env.clock.set_auto_advance(False)
    while not stop.is_set():
        await wall.sleep(0.05)
        if not paced:
            await env.clock.advance(0.05)
        progress()
    if not paced:
        env.clock.set_auto_advance(True)
