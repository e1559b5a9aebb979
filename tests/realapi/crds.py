"""Install CustomResourceDefinitions into a real API server and wait until they are served.

A CRD is usable once its ``Established`` condition is True (names accepted, storage ready); only
then do create/list of the custom resource stop answering 404. Synchronous and in real time, like
the rest of the harness.
"""

from __future__ import annotations

import json
import ssl
import urllib.error
import urllib.request
from collections.abc import Iterable
from typing import Any

from polling import wait_until

from realapi.cluster import RealApiServer, open_url

CRD_PATH = "/apis/apiextensions.k8s.io/v1/customresourcedefinitions"

_SESSION_CRDS: dict[str, dict[str, Any]] = {}


def add_session_crd(crd: dict[str, Any]) -> None:
    """Have the session's server (the ``real_apiserver`` fixture) install ``crd`` at start.

    Call it at import time (from a conftest or a test module): the fixture installs every CRD
    added by then before the controller manager starts, so the garbage collector watches the
    kind from the beginning.
    """
    _SESSION_CRDS[crd["metadata"]["name"]] = crd


def session_crds() -> list[dict[str, Any]]:
    """rayop's CRDs plus every CRD given to :func:`add_session_crd`."""
    from rayop.ray.crds import generate_crds

    return [*generate_crds(), *_SESSION_CRDS.values()]


def install_crds(
    server: RealApiServer, crds: Iterable[dict[str, Any]], *, timeout: float = 30.0
) -> list[str]:
    """Create each CRD (an existing one is replaced) and wait until all are Established."""
    names = [_create_or_replace(server, crd) for crd in crds]
    pending = list(names)

    def all_established() -> bool:
        while pending and _established(_request(server, "GET", f"{CRD_PATH}/{pending[0]}")):
            pending.pop(0)
        return not pending

    wait_until(all_established, within=timeout, every=0.05,
               failure=lambda: f"CRD {pending[0]} not Established after {timeout} s")
    return names


def install_rayop_crds(server: RealApiServer) -> list[str]:
    """Install rayop's own CRDs (RayCluster, RayJob, RayService), generated from its models."""
    from rayop.ray.crds import generate_crds

    return install_crds(server, generate_crds())


def _create_or_replace(server: RealApiServer, crd: dict[str, Any]) -> str:
    name: str = crd["metadata"]["name"]
    try:
        _request(server, "POST", CRD_PATH, crd)
    except urllib.error.HTTPError as error:
        if error.code != 409:
            raise
        current = _request(server, "GET", f"{CRD_PATH}/{name}")
        replacement = {**crd, "metadata": {**crd["metadata"], **_version_of(current)}}
        _request(server, "PUT", f"{CRD_PATH}/{name}", replacement)
    return name


def _version_of(obj: dict[str, Any]) -> dict[str, Any]:
    return {"resourceVersion": obj["metadata"]["resourceVersion"]}


def _established(crd: dict[str, Any]) -> bool:
    conditions = (crd.get("status") or {}).get("conditions") or []  # null right after create
    return any(c.get("type") == "Established" and c.get("status") == "True" for c in conditions)


def _request(server: RealApiServer, method: str, path: str, body: Any = None) -> dict[str, Any]:
    """One JSON call; a status >= 400 raises :class:`urllib.error.HTTPError`."""
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(
        server.url + path,
        data=data,
        method=method,
        headers={"Authorization": f"Bearer {server.token}", "Content-Type": "application/json"},
    )
    context = ssl.create_default_context(cafile=str(server.ca_file))
    try:
        with open_url(request, context=context, timeout=10) as response:
            answer: dict[str, Any] = json.loads(response.read())
            return answer
    except urllib.error.HTTPError as error:
        error.msg = f"{error.msg}: {error.read().decode(errors='replace')}"  # show the Status
        raise
