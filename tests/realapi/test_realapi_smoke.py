"""Smoke tests of the real kube-apiserver harness, over plain HTTPS with the admin token.

Skipped (with the reason) unless ``tests/realapi/prepare.sh`` has built the binaries. The server
is real, so waits are real: every wait is on an event the server sends (a watch), bounded by a
timeout, never a sleep.
"""

from __future__ import annotations

import asyncio
import json
import ssl
from collections.abc import AsyncGenerator, AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import yaml

from rayop.kube import KubeClient
from rayop.runtime.client import CONFIGMAP, NAMESPACE
from rayop.runtime.errors import NotFound
from realapi.cluster import RealApiServer, kube_version

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "manifests"
WAIT = 60.0  # seconds; a real garbage collector or namespace controller may take a while
LOOPBACK_V4 = "0100007F"  # 127.0.0.1 as /proc/net/tcp writes it
LISTEN = "0A"


class Api:
    """A few HTTP calls to the API server, answering (status, JSON body)."""

    def __init__(
        self, server: RealApiServer, session: aiohttp.ClientSession, *, token: str | None = None
    ) -> None:
        self.url = server.url
        self.session = session
        self.headers = {"Authorization": f"Bearer {token or server.token}"}
        self.ssl = ssl.create_default_context(cafile=str(server.ca_file))

    async def call(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        async with self.session.request(
            method, self.url + path, json=body, headers=self.headers, ssl=self.ssl
        ) as response:
            return response.status, await response.json(content_type=None)

    async def watch(self, path: str) -> AsyncGenerator[dict[str, Any]]:
        async with self.session.get(
            self.url + path, headers=self.headers, ssl=self.ssl,
            timeout=aiohttp.ClientTimeout(total=None, sock_read=None),
        ) as response:  # fmt: skip
            assert response.status == 200
            async for line in response.content:
                yield json.loads(line)


@pytest.fixture
async def api(real_apiserver: RealApiServer) -> AsyncIterator[Api]:
    async with aiohttp.ClientSession() as session:
        yield Api(real_apiserver, session)


async def make_namespace(api: Api, name: str) -> None:
    status, body = await api.call("POST", "/api/v1/namespaces", {"metadata": {"name": name}})
    assert status == 201, body


def configmap(name: str, **data: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}, "data": data}


async def next_event(events: AsyncIterator[dict[str, Any]], name: str) -> tuple[str, str]:
    """The (type, resourceVersion) of the next watch event about object ``name``."""
    async with asyncio.timeout(WAIT):
        async for event in events:
            if event["object"]["metadata"]["name"] == name:
                return event["type"], event["object"]["metadata"]["resourceVersion"]
    raise AssertionError("watch ended")


async def test_version_is_the_prepared_release(api: Api) -> None:
    status, body = await api.call("GET", "/version")
    assert status == 200
    assert body["gitVersion"] == kube_version()


async def test_configmap_create_get_conflict_delete(api: Api) -> None:
    await make_namespace(api, "smoke-crud")
    path = "/api/v1/namespaces/smoke-crud/configmaps"
    status, created = await api.call("POST", path, configmap("settings", mode="fast"))
    assert status == 201, created
    status, fetched = await api.call("GET", f"{path}/settings")
    assert (status, fetched["data"]) == (200, {"mode": "fast"})
    assert fetched["metadata"]["resourceVersion"] == created["metadata"]["resourceVersion"]
    status, conflict = await api.call("POST", path, configmap("settings"))
    assert (status, conflict["reason"]) == (409, "AlreadyExists")
    status, _ = await api.call("DELETE", f"{path}/settings")
    assert status == 200
    status, missing = await api.call("GET", f"{path}/settings")
    assert (status, missing["reason"]) == (404, "NotFound")


async def test_watch_sees_added_modified_deleted_in_order(api: Api) -> None:
    await make_namespace(api, "smoke-watch")
    path = "/api/v1/namespaces/smoke-watch/configmaps"
    _, listed = await api.call("GET", path)
    events = api.watch(f"{path}?watch=1&resourceVersion={listed['metadata']['resourceVersion']}")
    _, created = await api.call("POST", path, configmap("watched", step="1"))
    merge = {"data": {"step": "2"}}
    async with api.session.patch(
        f"{api.url}{path}/watched", json=merge, ssl=api.ssl,
        headers={**api.headers, "Content-Type": "application/merge-patch+json"},
    ) as response:  # fmt: skip
        assert response.status == 200
    await api.call("DELETE", f"{path}/watched")
    seen = [await next_event(events, "watched") for _ in range(3)]
    assert [kind for kind, _ in seen] == ["ADDED", "MODIFIED", "DELETED"]
    assert seen[0][1] == created["metadata"]["resourceVersion"]
    await events.aclose()


async def test_service_account_tokens_authenticate_and_rbac_denies(
    api: Api, real_apiserver: RealApiServer
) -> None:
    await make_namespace(api, "smoke-rbac")
    accounts = "/api/v1/namespaces/smoke-rbac/serviceaccounts"
    await api.call("POST", accounts, {"metadata": {"name": "robot"}})
    status, issued = await api.call("POST", f"{accounts}/robot/token", {"spec": {}})
    assert status == 201, issued
    robot = Api(real_apiserver, api.session, token=issued["status"]["token"])
    review = "/apis/authentication.k8s.io/v1/selfsubjectreviews"
    status, who = await robot.call("POST", review, {"apiVersion": "authentication.k8s.io/v1"})
    assert (status, who["status"]["userInfo"]["username"]) == (
        201,
        "system:serviceaccount:smoke-rbac:robot",
    )
    status, denied = await robot.call("GET", "/api/v1/namespaces/smoke-rbac/configmaps")
    assert (status, denied["reason"]) == (403, "Forbidden")


async def test_garbage_collector_deletes_dependents(
    api: Api, real_apiserver: RealApiServer
) -> None:
    if not real_apiserver.garbage_collection:
        pytest.skip("kube-controller-manager not built: no garbage collector")
    await make_namespace(api, "smoke-gc")
    path = "/api/v1/namespaces/smoke-gc/configmaps"
    _, owner = await api.call("POST", path, configmap("owner"))
    child = configmap("child")
    child["metadata"]["ownerReferences"] = [
        {"apiVersion": "v1", "kind": "ConfigMap", "name": "owner", "uid": owner["metadata"]["uid"]}
    ]
    _, created = await api.call("POST", path, child)
    events = api.watch(f"{path}?watch=1&resourceVersion={created['metadata']['resourceVersion']}")
    await api.call("DELETE", f"{path}/owner", {"propagationPolicy": "Background"})
    assert (await next_event(events, "child"))[0] == "DELETED"
    await events.aclose()


async def test_namespace_controller_empties_and_removes_a_namespace(
    api: Api, real_apiserver: RealApiServer
) -> None:
    if not real_apiserver.garbage_collection:
        pytest.skip("kube-controller-manager not built: no namespace controller")
    await make_namespace(api, "smoke-ns")
    await api.call("POST", "/api/v1/namespaces/smoke-ns/configmaps", configmap("inside"))
    _, listed = await api.call("GET", "/api/v1/namespaces")
    events = api.watch(
        f"/api/v1/namespaces?watch=1&resourceVersion={listed['metadata']['resourceVersion']}"
    )
    status, terminating = await api.call("DELETE", "/api/v1/namespaces/smoke-ns")
    assert (status, terminating["status"]["phase"]) == (200, "Terminating")
    kinds = [(await next_event(events, "smoke-ns"))[0]]
    while kinds[-1] != "DELETED":
        kinds.append((await next_event(events, "smoke-ns"))[0])
    assert kinds[0] == "MODIFIED"  # deletionTimestamp set, then emptied, then gone
    status, _ = await api.call("GET", "/api/v1/namespaces/smoke-ns/configmaps/inside")
    assert status == 404
    await events.aclose()


@pytest.mark.parametrize("manifest", sorted(p.name for p in EXAMPLES.glob("*.yaml")))
async def test_rayop_crds_accept_the_example_manifest(api: Api, manifest: str) -> None:
    obj = yaml.safe_load((EXAMPLES / manifest).read_text())
    plural = obj["kind"].lower() + "s"
    path = f"/apis/ray.io/v1/namespaces/default/{plural}?dryRun=All"
    status, body = await api.call("POST", path, obj)
    assert status == 201, body
    assert body["spec"] == obj["spec"]  # kept as written: nothing pruned, nothing defaulted


async def test_rayop_kube_client_connects_with_the_kubeconfig(
    real_apiserver: RealApiServer,
) -> None:
    async with await KubeClient.from_kubeconfig(real_apiserver.kubeconfig) as client:
        default = await client.get(NAMESPACE, "default")
        assert default["metadata"]["name"] == "default"
        with pytest.raises(NotFound):
            await client.get(CONFIGMAP, "absent", namespace="default")


def test_every_component_listens_on_loopback_only(real_apiserver: RealApiServer) -> None:
    listening = {name: _listening(pid) for name, pid in real_apiserver.pids().items()}
    assert listening["kube-apiserver"], listening  # the check below must have seen something
    for name, addresses in listening.items():
        assert all(host == LOOPBACK_V4 for host in addresses), (name, addresses)


def _listening(pid: int) -> list[str]:
    """Hex local addresses of the TCP sockets process ``pid`` listens on (IPv6 ones verbatim)."""
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        target = str(fd.readlink()) if fd.is_symlink() else ""
        if target.startswith("socket:["):
            inodes.add(target[len("socket:[") : -1])
    hosts = []
    for table in ("tcp", "tcp6"):
        for row in Path(f"/proc/{pid}/net/{table}").read_text().splitlines()[1:]:
            fields = row.split()
            if fields[3] == LISTEN and fields[9] in inodes:
                hosts.append(fields[1].split(":")[0])
    return hosts
