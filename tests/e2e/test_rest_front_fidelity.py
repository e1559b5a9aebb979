"""The REST front answers what a real kube-apiserver answers, byte for byte, for the same requests.

Runs when the real API server tier is available (tests/realapi; skipped with its reason
otherwise). Known, documented differences are left out of the comparison: created objects
(managedFields, key order), a JSON patch ``test`` failure (the fake's message names the path; the
server's is generic), the ``uid`` in a DELETE's ``Status`` success, requests without a token
(the front has no anonymous user: 401 where the server's anonymous user gets 403).
"""

from __future__ import annotations

import ssl
import uuid
from typing import Any

import aiohttp
import orjson
from realapi.cluster import RealApiServer

from rayop.fakes.apiserver import ApiServer
from rayop.fakes.cluster import FakeCluster
from rayop.ray.crds import generate_crds
from rayop.ray.kinds import RAYJOB
from rayop.ray.resources.schema import schema_validator
from rayop.runtime.clock import RealClock

JOB = {"apiVersion": "ray.io/v1", "kind": "RayJob", "metadata": {"name": "j"},
       "spec": {"entrypoint": "python main.py"}}
BAD = {"apiVersion": "ray.io/v1", "kind": "RayJob", "metadata": {"name": "k"},
       "spec": {"entrypoint": "x", "ttlSecondsAfterFinished": -1}}


def requests(ns: str) -> list[tuple[str, str, Any, str | None]]:
    jobs = f"/apis/ray.io/v1/namespaces/{ns}/rayjobs"
    return [
        ("GET", f"{jobs}/missing", None, None),
        ("POST", jobs, JOB, "created"),
        ("POST", jobs, JOB, None),                                   # AlreadyExists
        ("POST", jobs, BAD, None),                                   # Invalid, with causes
        ("GET", f"/api/v1/namespaces/{ns}/pods/p", None, None),      # core NotFound
        ("PATCH", f"{jobs}/j", {}, "application/strategic-merge-patch+json"),
        ("PATCH", f"{jobs}/j", {}, "application/yaml"),
        ("PUT", f"{jobs}/other", "created", None),                   # name mismatch
        ("DELETE", f"{jobs}/j?propagationPolicy=Sideways", None, None),
        ("GET", "/nothing", None, None),
        ("GET", "/apis/nope.io/v1/things", None, None),              # unknown group: plain 404
    ]


async def answers(url: str, token: str, ctx: ssl.SSLContext | None, ns: str
                  ) -> list[tuple[int, bytes]]:
    out: list[tuple[int, bytes]] = []
    created: Any = None
    auth = {"Authorization": f"Bearer {token}"}
    async with aiohttp.ClientSession() as session:
        async with session.post(f"{url}/api/v1/namespaces", ssl=ctx,
                                headers={**auth, "Content-Type": "application/json"},
                                data=orjson.dumps({"metadata": {"name": ns}})) as response:
            assert response.status == 201
        for method, path, body, extra in requests(ns):
            headers = dict(auth)
            data = None
            if body == "created":
                body = created
            if body is not None:
                data = orjson.dumps(body)
                headers["Content-Type"] = extra if extra and "/" in extra else "application/json"
            async with session.request(method, url + path, data=data, headers=headers,
                                       ssl=ctx) as response:
                raw = await response.read()
                if extra == "created":
                    created = orjson.loads(raw)
                    continue  # objects differ (managedFields); compare errors only
                out.append((response.status, raw))
    return out


async def test_errors_and_statuses_match_the_real_server(real_apiserver: RealApiServer) -> None:
    ns = f"fidelity-{uuid.uuid4().hex[:6]}"
    ctx = ssl.create_default_context(cafile=str(real_apiserver.ca_file))
    real = await answers(real_apiserver.url, real_apiserver.token, ctx, ns)
    fake = FakeCluster(clock=RealClock())
    fake.register_kind(RAYJOB, validator=schema_validator(RAYJOB))
    async with ApiServer(fake, crds=generate_crds(), tls=False) as server:
        ours = await answers(server.url, server.token, None, ns)
    compared = [(m, p) for m, p, _, extra in requests(ns) if extra != "created"]
    assert len(real) == len(ours) == len(compared)
    for (method, path), theirs, mine in zip(compared, real, ours, strict=True):
        assert mine == theirs, f"{method} {path}"
