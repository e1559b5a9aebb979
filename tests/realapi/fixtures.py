"""The pytest fixture for the real API server tier: one server per session, or a skip saying why.

``tests/conftest.py`` registers it for the whole suite, so any test can take it::

    def test_something(real_apiserver: RealApiServer) -> None: ...

Do not import it into a test module as well: each import is a fixture of its own, and would start
a server of its own. Set ``RAYOP_REALAPI=0`` to skip the tier even when the binaries are built,
and ``RAYOP_REALAPI=require`` to fail instead of skipping when they are not (for CI that built
them).
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from realapi.cluster import BinariesMissing, RealApiServer, locate_binaries, start_real_apiserver
from realapi.crds import install_crds, session_crds


def availability() -> str | None:
    """None when the real API server can be started here, else the reason it cannot."""
    if os.environ.get("RAYOP_REALAPI") == "0":
        return "RAYOP_REALAPI=0"
    try:
        locate_binaries()
    except BinariesMissing as missing:
        return str(missing)
    return None


@pytest.fixture(scope="session", name="real_apiserver")
def real_apiserver_fixture(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RealApiServer]:
    """A running kube-apiserver (etcd, RBAC, admin token, rayop's CRDs) shared by the session.

    The CRDs (rayop's and those given to :func:`realapi.crds.add_session_crd`) are installed
    before the controller manager starts.
    """
    reason = availability()
    if reason is not None:
        if os.environ.get("RAYOP_REALAPI") == "require":
            pytest.fail(f"real API server required but unavailable: {reason}")
        pytest.skip(f"real kube-apiserver unavailable: {reason}")
    server = start_real_apiserver(
        tmp_path_factory.mktemp("realapi"),
        before_controllers=lambda started: install_crds(started, session_crds()),
    )
    try:
        yield server
    finally:
        server.stop()
