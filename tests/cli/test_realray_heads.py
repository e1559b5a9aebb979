"""RealRayHeads without Ray: a stand-in `ray` command shows what starts, when, and that it stops.

The stand-in records its arguments and waits for SIGTERM, as `ray start --block` does. The heads
follow fake head pods (Running starts one, a new pod replaces it, deletion stops it); every port
is distinct and on 127.0.0.1; the Serve config gets ``http_options`` pinned to loopback. These
run in the default suite; `test_realray.py` runs the real thing in the Ray tier.
"""

from __future__ import annotations

import asyncio
import json
import os
import stat
import sys
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from polling import eventually

from rayop.cli.main import main
from rayop.ray.fakes import realray
from rayop.ray.fakes.realray import HeadPorts, RealHeadClient, RealRayHeads, RealRayOptions

STAND_IN = """#!{python}
import json, signal, sys
with open({log!r}, "a") as f:
    f.write(json.dumps(sys.argv[1:]) + "\\n")
signal.signal(signal.SIGTERM, lambda *a: sys.exit(0))
while True:
    signal.pause()  # until SIGTERM, as `ray start --block` waits
"""


@pytest.fixture
def fake_ray(tmp_path: Path) -> tuple[str, Path]:
    log = tmp_path / "calls.jsonl"
    script = tmp_path / "ray"
    script.write_text(STAND_IN.format(python=sys.executable, log=str(log)))
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    return str(script), log


def head_pod(cluster: str, uid: str, phase: str, *, deleted: bool = False) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": f"{cluster}-head", "namespace": "default", "uid": uid,
                            "labels": {"ray.io/cluster": cluster, "ray.io/node-type": "head"}}
    if deleted:
        meta["deletionTimestamp"] = "2026-01-01T00:00:00Z"
    return {"metadata": meta, "status": {"phase": phase}}


def calls(log: Path) -> list[list[str]]:
    return [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []


async def test_heads_follow_head_pods(fake_ray: tuple[str, Path], tmp_path: Path) -> None:
    ray, log = fake_ray
    heads = RealRayHeads(ray=ray, options=RealRayOptions(temp_root=str(tmp_path),
                                                         stop_timeout=5))
    heads.observe_pod(head_pod("a", "u1", "Pending"))
    heads.observe_pod({"metadata": {"labels": {"ray.io/cluster": "a",
                                               "ray.io/node-type": "worker"}}})
    await asyncio.sleep(0)
    assert heads.heads() == {}  # nothing until the head pod runs; workers never
    heads.observe_pod(head_pod("a", "u1", "Running"))
    heads.observe_pod(head_pod("b", "u2", "Running"))
    heads.observe_pod(head_pod("a", "u1", "Running"))  # the same pod again: no second head
    await eventually(lambda: len(calls(log)) == 2, within=10.0, every=0.02,
                     failure=lambda: f"calls: {calls(log)}")
    first = heads.heads()[("default", "a")]
    pid = first.process.pid if first.process else 0
    heads.observe_pod(head_pod("a", "u3", "Running"))  # a new head pod: a new Ray
    await eventually(lambda: len(calls(log)) == 3, within=10.0, every=0.02,
                     failure=lambda: f"calls: {calls(log)}")
    assert not _alive(pid)
    heads.observe_pod(head_pod("b", "u2", "Failed", deleted=True))
    await eventually(lambda: set(heads.heads()) == {("default", "a")}, within=10.0,
                     every=0.02, failure=lambda: f"heads: {sorted(heads.heads())}")
    temp_dirs = [h.temp_dir for h in heads.heads().values()]
    await heads.aclose()
    assert heads.heads() == {}
    assert not any(exists(d) for d in temp_dirs)

    argvs = calls(log)
    for argv in argvs:
        assert argv[:3] == ["start", "--head", "--block"]
        assert argv[argv.index("--node-ip-address") + 1] == "127.0.0.1"
        assert argv[argv.index("--dashboard-host") + 1] == "127.0.0.1"
    ports = [heads.ports("default", c) for c in ("a", "b")]
    numbers = [p for hp in ports for p in (hp.gcs, hp.dashboard, hp.serve, hp.client_server,
                                           hp.agent_listen)]
    assert len(set(numbers)) == len(numbers)  # no two heads (or roles) share a port
    assert ports[0].worker_max < ports[1].worker_min
    assert ports[0] == heads.ports("default", "a")  # stable: the clients keep their address


def exists(path: str) -> bool:
    return os.path.exists(path)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return Path(f"/proc/{pid}").exists() and "zombie" not in Path(
        f"/proc/{pid}/status").read_text().lower()


async def test_serve_config_is_pinned_to_loopback_and_the_heads_own_port() -> None:
    seen: list[Any] = []

    async def put(request: web.Request) -> web.Response:
        seen.append(await request.json())
        return web.Response(status=200)

    app = web.Application()
    app.router.add_put("/api/serve/applications/", put)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    ports = HeadPorts(gcs=1, dashboard=port, serve=18123, client_server=2, agent_listen=3,
                      worker_min=4, worker_max=5)
    client = RealHeadClient(ports)
    await client.apply_serve_config({"applications": [{"name": "a", "import_path": "m:app"}],
                                     "http_options": {"host": "0.0.0.0", "request_timeout_s": 9}})
    await client.aclose()
    await runner.cleanup()
    assert seen[0]["http_options"] == {"host": "127.0.0.1", "port": 18123, "request_timeout_s": 9}
    assert client.address.serve_url == "http://127.0.0.1:18123"


def test_missing_ray_is_a_clear_message_and_exit_2(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    real_find = realray.importlib.util.find_spec

    def find(name: str, *args: Any) -> Any:
        return None if name == "uvicorn" else real_find(name, *args)

    monkeypatch.setattr(realray.importlib.util, "find_spec", find)
    assert main(["dev", "--real-ray"]) == 2
    err = capsys.readouterr().err
    assert "ray[serve]" in err and "pip install 'rayop[ray]'" in err and "Traceback" not in err
