"""``rayop dev``'s REST front: serve the demo's fake cluster to kubectl, with a kubeconfig.

``rayop dev`` calls :func:`add_api_flags` on its parser and :func:`start_api` once its
:class:`~rayop.testing.env.FakeEnv` runs; :func:`pace` keeps a virtual clock in step with the
wall clock (sped up by a factor, for tests) while real clients talk to the cluster.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any, TextIO

from rayop.fakes.apiserver._server import ApiServer
from rayop.ray.crds import generate_crds
from rayop.runtime.clock import RealClock, VirtualClock

__all__ = ["add_api_flags", "pace", "parse_address", "start_api"]


def parse_address(text: str) -> tuple[str, int]:
    """Parse ``HOST:PORT`` (``[::1]:PORT`` for IPv6) into a loopback host and a port."""
    host, sep, port = text.rpartition(":")
    if not sep or not port.isdigit():
        raise ValueError(f"expected HOST:PORT, got {text!r}")
    host = host.strip("[]") or "127.0.0.1"
    from rayop.fakes.apiserver._server import check_loopback

    check_loopback(host)
    return host, int(port)


def _address_arg(text: str) -> tuple[str, int]:
    try:
        return parse_address(text)
    except ValueError as err:
        raise argparse.ArgumentTypeError(str(err)) from None


def add_api_flags(parser: argparse.ArgumentParser) -> None:
    """Add ``--api-address`` and ``--write-kubeconfig`` to a parser."""
    parser.add_argument("--api-address", metavar="HOST:PORT", default=None, type=_address_arg,
                        help="serve the fake cluster over the Kubernetes API on this loopback "
                             "address (port 0: any free port); off unless given, or implied "
                             "by --write-kubeconfig")
    parser.add_argument("--write-kubeconfig", metavar="PATH", type=Path, default=None,
                        help="write a kubeconfig for kubectl to PATH (implies --api-address "
                             "127.0.0.1:0)")


async def start_api(env: Any, args: argparse.Namespace, out: TextIO) -> ApiServer | None:
    """Start the REST front on ``env.cluster`` if the flags ask for it; print how to use it."""
    address = getattr(args, "api_address", None)
    path: Path | None = getattr(args, "write_kubeconfig", None)
    if address is None and path is None:
        return None
    host, port = address if isinstance(address, tuple) else parse_address(address or "127.0.0.1:0")
    server = ApiServer(env.cluster, crds=generate_crds(), host=host, port=port)
    await server.start()
    print(f"serving the Kubernetes API on {server.url}", file=out, flush=True)
    if path is not None:
        server.write_kubeconfig(path)
        print(f"kubeconfig written to {path}; try:\n"
              f"  kubectl --kubeconfig {path} get rayjobs,rayservices,rayclusters,pods -w",
              file=out, flush=True)
    else:
        print(f"bearer token: {server.token} (or use --write-kubeconfig PATH for kubectl)",
              file=out, flush=True)
    return server


async def pace(clock: VirtualClock, *, speed: float = 1.0, step: float = 0.02) -> None:
    """Advance ``clock`` by ``speed`` virtual seconds per wall second, until cancelled."""
    wall = RealClock()
    last = wall.monotonic()
    while True:
        await wall.sleep(step)
        now = wall.monotonic()
        await clock.advance((now - last) * speed)
        last = now
