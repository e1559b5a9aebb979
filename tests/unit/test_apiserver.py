"""The fake cluster's REST front, byte for byte: auth, Status bodies, discovery, tables, watch
streams, patch types, delete options, TLS. (The ClusterClient contract over it is in
tests/contract, backend "http"; kubectl against it in tests/kubectl.)"""

from __future__ import annotations

import ssl
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import orjson
import pytest
from kube_server import StepClock
from polling import eventually

from rayop.fakes.apiserver import ApiServer, human_duration, strategic_merge
from rayop.fakes.cluster import FakeCluster
from rayop.kube import KubeClient
from rayop.ray.crds import generate_crds
from rayop.ray.kinds import RAYJOB
from rayop.ray.resources.schema import schema_validator
from rayop.runtime.client import CONFIGMAP, EVENT, NAMESPACE, POD, SERVICE, Kind
from rayop.runtime.clock import RealClock
from rayop.runtime.errors import Gone

JOB = {"apiVersion": "ray.io/v1", "kind": "RayJob",
       "metadata": {"name": "j", "namespace": "default"},
       "spec": {"entrypoint": "python main.py"}}
JOBS = "/apis/ray.io/v1/namespaces/default/rayjobs"
TABLE = "application/json;as=Table;v=v1;g=meta.k8s.io,application/json"


def status(code: int, reason: str, message: str, details: str = "") -> bytes:
    """A Status body in kube-apiserver's exact bytes (field order of metav1.Status, newline)."""
    body = ('{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":'
            + orjson.dumps(message).decode() + f',"reason":"{reason}"')
    if details:
        body += f',"details":{details}'
    return (body + f',"code":{code}}}\n').encode()


class Api:
    """A raw HTTP client of one ApiServer."""

    def __init__(self, server: ApiServer, session: aiohttp.ClientSession) -> None:
        self.server, self.session = server, session
        self.auth = {"Authorization": f"Bearer {server.token}"}

    async def call(self, method: str, path: str, *, body: Any = None, auth: bool = True,
                   headers: dict[str, str] | None = None, raw: bytes | None = None
                   ) -> tuple[int, bytes]:
        hdrs = {**(self.auth if auth else {}), **(headers or {})}
        data = raw if raw is not None else (orjson.dumps(body) if body is not None else None)
        async with self.session.request(method, self.server.url + path, data=data,
                                        headers=hdrs) as response:
            return response.status, await response.read()

    async def json(self, method: str, path: str, **kw: Any) -> tuple[int, Any]:
        code, body = await self.call(method, path, **kw)
        return code, orjson.loads(body)


@pytest.fixture
async def fake() -> FakeCluster:
    cluster = FakeCluster(clock=RealClock(), seed=1)
    cluster.register_kind(RAYJOB, validator=schema_validator(RAYJOB))
    return cluster


@pytest.fixture
async def api(fake: FakeCluster) -> AsyncIterator[Api]:
    async with (ApiServer(fake, crds=generate_crds(), tls=False) as server,
                aiohttp.ClientSession() as session):
        yield Api(server, session)


async def test_only_probes_and_version_answer_without_the_token(api: Api) -> None:
    assert await api.call("GET", "/healthz", auth=False) == (200, b"ok")
    code, version = await api.json("GET", "/version", auth=False)
    assert code == 200 and version["major"] == "1"
    assert await api.call("GET", JOBS, auth=False) == (
        401, status(401, "Unauthorized", "Unauthorized"))
    wrong = {"Authorization": "Bearer nope"}
    assert (await api.call("GET", JOBS, auth=False, headers=wrong))[0] == 401
    assert (await api.call("GET", JOBS))[0] == 200


async def test_errors_are_status_objects_in_the_servers_bytes(api: Api) -> None:
    assert await api.call("GET", f"{JOBS}/x") == (404, status(
        404, "NotFound", 'rayjobs.ray.io "x" not found',
        '{"name":"x","group":"ray.io","kind":"rayjobs"}'))
    assert await api.call("GET", "/api/v1/namespaces/default/pods/p") == (404, status(
        404, "NotFound", 'pods "p" not found', '{"name":"p","kind":"pods"}'))
    assert (await api.call("POST", JOBS, body=JOB))[0] == 201
    assert await api.call("POST", JOBS, body=JOB) == (409, status(
        409, "AlreadyExists", 'rayjobs.ray.io "j" already exists',
        '{"name":"j","group":"ray.io","kind":"rayjobs"}'))
    bad = {**JOB, "metadata": {"name": "k"}, "spec": {"entrypoint": "x",
                                                       "ttlSecondsAfterFinished": -1}}
    code, body = await api.json("POST", JOBS, body=bad)
    assert code == 422 and body["reason"] == "Invalid"
    assert list(body["details"]) == ["name", "group", "kind", "causes"]
    assert body["details"]["causes"][0]["field"] == "spec.ttlSecondsAfterFinished"
    assert list(body["details"]["causes"][0]) == ["reason", "message", "field"]
    assert (await api.call("GET", "/apis/nope.io/v1/things"))[0] == 404
    assert await api.call("GET", "/nothing") == (404, b"404 page not found\n")


async def test_discovery_lists_every_kind_with_short_names(api: Api) -> None:
    _, core = await api.json("GET", "/api")
    assert core["versions"] == ["v1"]
    _, v1 = await api.json("GET", "/api/v1")
    names = {r["name"]: r for r in v1["resources"]}
    assert names["pods"]["shortNames"] == ["po"] and "pods/status" in names
    assert names["namespaces"]["namespaced"] is False
    _, groups = await api.json("GET", "/apis")
    assert {"ray.io", "batch", "coordination.k8s.io"} <= {g["name"] for g in groups["groups"]}
    _, ray = await api.json("GET", "/apis/ray.io/v1")
    jobs = next(r for r in ray["resources"] if r["name"] == "rayjobs")
    assert jobs["kind"] == "RayJob" and jobs["shortNames"] == ["rjob"]
    assert jobs["categories"] == ["all"]


async def test_kubectl_gets_a_table_with_the_printer_columns(api: Api) -> None:
    await api.call("POST", JOBS, body=JOB)
    code, table = await api.json("GET", JOBS, headers={"Accept": TABLE})
    assert code == 200 and table["kind"] == "Table"
    assert [c["name"] for c in table["columnDefinitions"]] == [
        "Name", "Status", "Job ID", "Cluster", "Start", "End", "Age", "Deployment Status"]
    row = table["rows"][0]
    assert row["cells"][0] == "j" and row["cells"][1] is None
    assert row["cells"][6].endswith("s")  # an age, not a timestamp
    assert row["object"]["kind"] == "PartialObjectMetadata"
    _, one = await api.json("GET", f"{JOBS}/j?includeObject=Object", headers={"Accept": TABLE})
    assert one["rows"][0]["object"]["spec"]["entrypoint"] == "python main.py"


async def test_watch_streams_events_and_ends_with_a_410_error_when_too_old(
        api: Api, fake: FakeCluster) -> None:
    await api.call("POST", JOBS, body=JOB)
    for flag in ("1", "true", "True"):
        async with api.session.get(f"{api.server.url}{JOBS}?watch={flag}&timeoutSeconds=1",
                                   headers=api.auth) as response:
            lines = (await response.read()).splitlines()
        assert [orjson.loads(line)["type"] for line in lines] == ["ADDED"]
    small = FakeCluster(clock=RealClock(), history=2)
    small.register_kind(RAYJOB)
    async with ApiServer(small, crds=generate_crds(), tls=False) as server:
        for i in range(4):
            await small.create(RAYJOB, {**JOB, "metadata": {"name": f"j{i}"}},
                               namespace="default")
        async with api.session.get(f"{server.url}{JOBS}?watch=true&resourceVersion=1",
                                   headers={"Authorization": f"Bearer {server.token}"}
                                   ) as response:
            assert response.status == 200
            body = await response.read()
    assert body.startswith(b'{"type":"ERROR","object":{"kind":"Status"')
    error = orjson.loads(body)["object"]
    assert error["code"] == 410 and error["reason"] == "Expired"
    assert error["message"].startswith("too old resource version: 1 (")


async def test_a_watch_the_client_leaves_is_closed_on_the_server(api: Api) -> None:
    response = await api.session.get(f"{api.server.url}{JOBS}?watch=1", headers=api.auth)
    assert response.status == 200
    assert api.server.open_watches == 1
    response.close()
    await eventually(lambda: api.server.open_watches == 0, within=1.0, every=0.01,
                     failure=lambda: f"{api.server.open_watches} watches still open")


async def test_patch_content_types(api: Api) -> None:
    await api.call("POST", JOBS, body=JOB)
    merge = {"Content-Type": "application/merge-patch+json"}
    code, obj = await api.json("PATCH", f"{JOBS}/j", body={"metadata": {"labels": {"a": "b"}}},
                               headers=merge)
    assert code == 200 and obj["metadata"]["labels"] == {"a": "b"}
    ops = [{"op": "test", "path": "/metadata/labels/a", "value": "x"}]
    code, body = await api.json("PATCH", f"{JOBS}/j", body=ops,
                                headers={"Content-Type": "application/json-patch+json"})
    assert code == 422
    code, body = await api.json("PATCH", f"{JOBS}/j", body={},
                                headers={"Content-Type": "application/apply-patch+yaml"})
    assert code == 415 and "server-side apply is not implemented" in body["message"]
    code, body = await api.json("PATCH", f"{JOBS}/j", body={}, headers={
        "Content-Type": "application/strategic-merge-patch+json"})
    assert code == 415 and body["reason"] == "UnsupportedMediaType"


async def test_strategic_merge_patch_on_a_pod_merges_containers_by_name(
        api: Api, fake: FakeCluster) -> None:
    pod = {"metadata": {"name": "p"}, "spec": {"containers": [
        {"name": "a", "image": "a:1", "ports": [{"containerPort": 80}]},
        {"name": "b", "image": "b:1"}]}}
    await fake.create(POD, pod, namespace="default")
    patch = {"spec": {"containers": [{"name": "b", "image": "b:2"}]}}  # image: a legal update
    code, obj = await api.json("PATCH", "/api/v1/namespaces/default/pods/p", body=patch,
                               headers={"Content-Type": "application/strategic-merge-patch+json"})
    assert code == 200
    assert obj["spec"]["containers"] == [
        {"name": "a", "image": "a:1", "ports": [{"containerPort": 80}]},
        {"name": "b", "image": "b:2"}]


def test_strategic_merge_of_containers_env_and_ports() -> None:
    pod = {"spec": {"containers": [
        {"name": "a", "image": "a:1", "env": [{"name": "X", "value": "1"}],
         "ports": [{"containerPort": 80}]},
        {"name": "b", "image": "b:1"}]}}
    patch = {"spec": {"containers": [
        {"name": "a", "env": [{"name": "Y", "value": "2"}], "ports": [{"containerPort": 81}]},
        {"name": "b", "$patch": "delete"}]}}
    (container,) = strategic_merge(pod, patch, kind="Pod")["spec"]["containers"]
    assert container["image"] == "a:1"
    assert container["env"] == [{"name": "X", "value": "1"}, {"name": "Y", "value": "2"}]
    assert container["ports"] == [{"containerPort": 80}, {"containerPort": 81}]


def test_strategic_merge_of_service_ports_keys_on_port() -> None:
    svc = {"spec": {"ports": [{"port": 80, "name": "http"}, {"port": 443, "name": "https"}]},
           "metadata": {"finalizers": ["a"]}}
    patch = {"spec": {"ports": [{"port": 80, "targetPort": 8080}]},
             "metadata": {"finalizers": ["b"], "$deleteFromPrimitiveList/finalizers": ["a"]}}
    merged = strategic_merge(svc, patch, kind="Service")
    assert merged["spec"]["ports"] == [{"port": 80, "name": "http", "targetPort": 8080},
                                       {"port": 443, "name": "https"}]
    assert merged["metadata"]["finalizers"] == ["b"]
    assert svc["spec"]["ports"][0] == {"port": 80, "name": "http"}  # the input is untouched


async def test_delete_options_in_body_or_query(api: Api, fake: FakeCluster) -> None:
    owner = await fake.create(SERVICE, {"metadata": {"name": "o"}}, namespace="default")
    ref = {"apiVersion": "v1", "kind": "Service", "name": "o", "uid": owner["metadata"]["uid"]}
    await fake.create(CONFIGMAP, {"metadata": {"name": "dep", "ownerReferences": [ref]}},
                      namespace="default")
    svc = "/api/v1/namespaces/default/services/o"
    code, _ = await api.call("DELETE", svc + "?dryRun=All")
    assert code == 200 and await fake.get(SERVICE, "o", namespace="default")
    code, body = await api.json("DELETE", svc, body={"propagationPolicy": "Sideways"})
    assert code == 422 and body["details"]["causes"][0]["field"] == "propagationPolicy"
    code, body = await api.json("DELETE", svc, body={"preconditions": {"uid": "other"}})
    assert code == 409 and body["reason"] == "Conflict"
    assert await api.call("DELETE", svc + "?propagationPolicy=Orphan") == (200, (
        b'{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Success","details":'
        b'{"name":"o","kind":"services"}}\n'))
    assert await fake.get(CONFIGMAP, "dep", namespace="default")  # orphaned, not collected


async def test_put_checks_the_name_and_writes_status_only_on_status(api: Api) -> None:
    _, created = await api.json("POST", JOBS, body=JOB)
    code, body = await api.json("PUT", f"{JOBS}/other", body=created)
    assert code == 400 and body["message"] == (
        "the name of the object (j) does not match the name on the URL (other)")
    created["status"] = {"status": "Running"}
    code, written = await api.json("PUT", f"{JOBS}/j/status", body=created)
    assert code == 200 and written["status"] == {"status": "Running"}
    assert (await api.call("POST", f"{JOBS}/j"))[0] == 405


async def test_tls_and_the_kubeconfig_that_trusts_it(fake: FakeCluster, tmp_path: Any) -> None:
    async with ApiServer(fake, crds=generate_crds()) as server:
        assert server.url.startswith("https://127.0.0.1:")
        path = server.write_kubeconfig(tmp_path / "kc")
        assert oct(path.stat().st_mode & 0o777) == "0o600"
        async with await KubeClient.from_kubeconfig(path) as client:
            created = await client.create(RAYJOB, JOB, namespace="default")
            assert created["metadata"]["uid"]
        async with aiohttp.ClientSession() as session:  # trusting only the system's CAs
            with pytest.raises(aiohttp.ClientConnectorCertificateError):
                await session.get(server.url + "/healthz")
            context = ssl.create_default_context(cadata=(server.ca_pem or b"").decode())
            async with session.get(server.url + "/healthz", ssl=context) as response:
                assert response.status == 200


def test_only_loopback_addresses() -> None:
    with pytest.raises(ValueError, match="loopback only"):
        ApiServer(FakeCluster(), host="0.0.0.0", tls=False)
    ApiServer(FakeCluster(), host="::1", tls=False)


@pytest.mark.parametrize(("seconds", "text"), [
    (5, "5s"), (119, "119s"), (185, "3m5s"), (600, "10m"), (7500, "125m"), (14700, "4h5m"),
    (30 * 3600, "30h"),
    (3 * 86400 + 4 * 3600, "3d4h"), (400 * 86400, "400d"), (-5, "<invalid>")])
def test_ages_print_as_kubectl_prints_them(seconds: float, text: str) -> None:
    assert human_duration(seconds) == text


async def test_register_crd_serves_its_kind_with_columns(api: Api) -> None:
    crd = {"spec": {"group": "x.io", "scope": "Namespaced",
                    "names": {"kind": "Thing", "plural": "things", "shortNames": ["th"]},
                    "versions": [{"name": "v1", "storage": True, "subresources": {"status": {}},
                                  "additionalPrinterColumns": [
                                      {"name": "Size", "type": "integer",
                                       "jsonPath": ".spec.size"}]}]}}
    kind = api.server.register_crd(crd)
    assert kind == Kind("x.io", "v1", "Thing", "things")
    path = "/apis/x.io/v1/namespaces/default/things"
    await api.call("POST", path, body={"metadata": {"name": "t"}, "spec": {"size": 3}})
    _, table = await api.json("GET", path, headers={"Accept": TABLE})
    assert table["rows"][0]["cells"] == ["t", 3]
    _, listed = await api.json("GET", "/apis/x.io/v1")
    assert listed["resources"][0]["shortNames"] == ["th"]
    assert (await api.call("GET", f"/api/v1/namespaces/{'default'}"))[0] == 200
    assert NAMESPACE.plural == "namespaces"


async def test_injected_faults_reach_http_clients_as_a_server_sends_them(
        api: Api, fake: FakeCluster, tmp_path: Any) -> None:
    await api.call("POST", JOBS, body=JOB)
    fake.faults.throttle(retry_after=2, verb="get")
    async with api.session.get(f"{api.server.url}{JOBS}/j", headers=api.auth) as response:
        assert response.status == 429 and response.headers["Retry-After"] == "2"
        body = orjson.loads(await response.read())
    assert body["details"] == {"retryAfterSeconds": 2}
    fake.faults.throttle(retry_after=1, verb="get")
    clock = StepClock()
    path = api.server.write_kubeconfig(tmp_path / "kc")
    async with await KubeClient.from_kubeconfig(path, clock=clock) as client:
        assert (await client.get(RAYJOB, "j", namespace="default"))["metadata"]["name"] == "j"
        assert clock.sleeps == [1.0]  # it waited as the server's Retry-After said
        fake.faults.expire_watch(after_events=1)
        seen: list[str] = []

        async def consume() -> None:
            async for event in client.watch(RAYJOB, namespace="default"):
                seen.append(event.type)  # the expiry strikes at the next event: make one
                await fake.patch(RAYJOB, "j", {"metadata": {"labels": {"x": "y"}}},
                                 namespace="default")

        with pytest.raises(Gone):
            await consume()
        assert seen == ["ADDED"]


async def test_events_print_like_kubectl_get_events(api: Api, fake: FakeCluster) -> None:
    event = {"metadata": {"name": "j.1"}, "involvedObject": {"kind": "RayJob", "name": "j"},
             "type": "Normal", "reason": "Submitted", "message": "Submitted Ray job j-1",
             "lastTimestamp": "2026-01-01T00:00:00Z"}
    await fake.create(EVENT, event, namespace="default")
    _, table = await api.json("GET", "/api/v1/namespaces/default/events",
                              headers={"Accept": TABLE})
    names = [(c["name"], c["priority"]) for c in table["columnDefinitions"]]
    assert names == [("Last Seen", 0), ("Type", 0), ("Reason", 0), ("Object", 0),
                     ("Message", 0), ("Name", 1)]
    assert table["rows"][0]["cells"][1:] == ["Normal", "Submitted", "rayjob/j",
                                             "Submitted Ray job j-1", "j.1"]


async def test_creating_a_crd_serves_its_kind(api: Api) -> None:
    crds = "/apis/apiextensions.k8s.io/v1/customresourcedefinitions"
    crd = {"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
           "metadata": {"name": "gadgets.y.io"},
           "spec": {"group": "y.io", "scope": "Namespaced",
                    "names": {"kind": "Gadget", "plural": "gadgets"},
                    "versions": [{"name": "v1", "served": True, "storage": True,
                                  "additionalPrinterColumns": [
                                      {"name": "Size", "type": "integer",
                                       "jsonPath": ".spec.size"}]}]}}
    code, created = await api.json("POST", crds, body=crd)
    assert code == 201
    assert {c["type"]: c["status"] for c in created["status"]["conditions"]} == {
        "NamesAccepted": "True", "Established": "True"}
    path = "/apis/y.io/v1/namespaces/default/gadgets"
    assert (await api.call("POST", path, body={"metadata": {"name": "g"},
                                               "spec": {"size": 2}}))[0] == 201
    _, table = await api.json("GET", path, headers={"Accept": TABLE})
    assert table["rows"][0]["cells"] == ["g", 2]
    assert (await api.call("POST", crds, body=crd))[0] == 409
    broken = {**crd, "metadata": {"name": "x.y.io"}, "spec": {"group": "y.io", "names": {}}}
    code, body = await api.json("POST", crds, body=broken)
    assert code == 422
    assert [c["field"] for c in body["details"]["causes"]] == [
        "spec.names.kind", "spec.names.plural", "spec.versions"]


async def test_applying_rayops_crds_keeps_their_validation(api: Api) -> None:
    from rayop.ray.crds import generate_crd

    crds = "/apis/apiextensions.k8s.io/v1/customresourcedefinitions"
    assert (await api.call("POST", crds, body=generate_crd(RAYJOB)))[0] == 201
    bad = {**JOB, "spec": {"entrypoint": "x", "ttlSecondsAfterFinished": -1}}
    assert (await api.call("POST", JOBS, body=bad))[0] == 422  # the schema validator stays
