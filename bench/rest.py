"""Requests per second through the fake cluster's REST front with the real backend (KubeClient),
beside the same calls on the in-memory fake, in the same run.

    python bench/rest.py [--requests 2000] [--concurrency 1] [--events 5000]

Three columns: the in-memory ``FakeCluster`` (the floor: no HTTP), ``ApiServer`` + ``KubeClient``
over HTTPS on 127.0.0.1 (the default: what kubectl needs), and the same over plain HTTP. Client
and server share one event loop and one core, so an HTTP figure counts both ends. Objects are the
3.5 KB RayJobs of ``bench/fake_cluster.py``. ``list`` reads 50 objects per call. ``watch`` is
events per second delivered to one watcher while a writer patches.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import importlib.util
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

# ``python bench/rest.py`` puts bench/ first on sys.path, where bench/queue.py would shadow the
# standard library's ``queue`` (which urllib3, under kubernetes-asyncio, imports).
_HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE]

from rayop.fakes.apiserver import ApiServer  # noqa: E402
from rayop.fakes.cluster import FakeCluster  # noqa: E402
from rayop.kube import KubeClient  # noqa: E402
from rayop.ray.crds import generate_crds  # noqa: E402
from rayop.ray.kinds import RAYJOB  # noqa: E402
from rayop.runtime.client import NAMESPACE, ClusterClient, Obj  # noqa: E402


def _load_rayjob() -> Callable[[int], Obj]:
    """bench/fake_cluster.py's RayJob (loaded by path: bench/queue.py would shadow ``queue``)."""
    spec = importlib.util.spec_from_file_location("bench_fake_cluster",
                                                  Path(__file__).with_name("fake_cluster.py"))
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.rayjob  # type: ignore[no-any-return]


rayjob = _load_rayjob()

LIST_NS = "listed"


async def _rate(n: int, concurrency: int, call: Callable[[int], Awaitable[object]]) -> float:
    """Calls per second of ``call(i)`` for i in range(n), ``concurrency`` in flight."""
    it = iter(range(n))

    async def worker() -> None:
        for i in it:
            await call(i)

    gc.collect()
    start = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return n / (time.perf_counter() - start)


async def _watch_rate(client: ClusterClient, events: int) -> float:
    """Events per second one watcher receives while a writer patches one object."""
    await client.create(RAYJOB, rayjob(10_000_000), namespace="default")
    start_rv = (await client.list(RAYJOB, namespace="default", limit=1)).resource_version
    got = 0
    done = asyncio.Event()

    async def watch() -> None:
        nonlocal got
        async for event in client.watch(RAYJOB, namespace="default",
                                        resource_version=start_rv, allow_bookmarks=False):
            if event.type == "MODIFIED":
                got += 1
                if got == events:
                    done.set()
                    return

    start = time.perf_counter()
    watcher = asyncio.ensure_future(watch())
    name = rayjob(10_000_000)["metadata"]["name"]
    for i in range(events):
        await client.patch(RAYJOB, name, {"spec": {"entrypoint": f"python run.py {i}"}},
                           namespace="default")
    await done.wait()
    watcher.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await watcher
    return events / (time.perf_counter() - start)


async def measure(client: ClusterClient, n: int, concurrency: int, events: int
                  ) -> dict[str, float]:
    """Every figure for one client."""
    await client.create(NAMESPACE, {"metadata": {"name": LIST_NS}})
    for i in range(50):
        obj = rayjob(i)
        obj["metadata"]["namespace"] = LIST_NS
        await client.create(RAYJOB, obj, namespace=LIST_NS)
    out: dict[str, float] = {}
    out["create"] = await _rate(n, concurrency, lambda i: client.create(
        RAYJOB, rayjob(1000 + i), namespace="default"))
    out["get"] = await _rate(n, concurrency, lambda i: client.get(
        RAYJOB, f"rayjob-{1000 + i:06d}", namespace="default"))
    out["list (50 objects)"] = await _rate(max(1, n // 10), concurrency, lambda i: client.list(
        RAYJOB, namespace=LIST_NS))
    out["patch (merge)"] = await _rate(n, concurrency, lambda i: client.patch(
        RAYJOB, f"rayjob-{1000 + i:06d}", {"metadata": {"labels": {"n": str(i)}}},
        namespace="default"))
    out["watch events"] = await _watch_rate(client, events)
    return out


def _fake() -> FakeCluster:
    fake = FakeCluster(history=100_000)
    fake.register_kind(RAYJOB)
    return fake


@contextlib.asynccontextmanager
async def over_http(tls: bool) -> AsyncIterator[ClusterClient]:
    """A fresh fake behind the REST front, and a KubeClient to it."""
    fake = _fake()
    async with ApiServer(fake, crds=generate_crds(), tls=tls) as server:
        with tempfile.TemporaryDirectory() as tmp:
            path = server.write_kubeconfig(Path(tmp) / "kubeconfig")
            client = await KubeClient.from_kubeconfig(path)
        try:
            yield client
        finally:
            await client.close()


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=1)
    parser.add_argument("--events", type=int, default=5000)
    args = parser.parse_args()
    n, c, e = args.requests, args.concurrency, args.events
    memory = await measure(_fake(), n, c, e)
    async with over_http(tls=True) as client:
        https = await measure(client, n, c, e)
    async with over_http(tls=False) as client:
        http = await measure(client, n, c, e)
    print(f"{n} requests per verb, concurrency {c}; watch: {e} events "
          f"(Python {sys.version.split()[0]})")
    print(f"{'operation':<20}{'in-memory/s':>13}{'REST https/s':>14}{'REST http/s':>13}"
          f"{'mem/https':>11}{'http/https':>12}")
    for key in memory:
        print(f"{key:<20}{memory[key]:>13,.0f}{https[key]:>14,.0f}{http[key]:>13,.0f}"
              f"{memory[key] / https[key]:>10.1f}x{http[key] / https[key]:>11.2f}x")


if __name__ == "__main__":
    asyncio.run(main())
