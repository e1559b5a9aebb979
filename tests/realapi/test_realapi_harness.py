"""Tests of the harness that need no binaries: credentials, kubeconfig, binary lookup."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from rayop.kube.config import load_kubeconfig
from realapi.cluster import BinariesMissing, kube_version, locate_binaries
from realapi.pki import ADMIN_GROUP, ADMIN_USER, generate_credentials, write_kubeconfig


def test_serving_certificate_is_valid_for_loopback_only(tmp_path: Path) -> None:
    creds = generate_credentials(tmp_path)

    def verify(*target: str) -> str:
        argv = ["openssl", "verify", "-CAfile", str(creds.ca_cert), *target, str(creds.server_cert)]
        return subprocess.run(argv, capture_output=True, text=True, check=False).stdout

    assert verify("-verify_ip", "127.0.0.1").strip().endswith(": OK")
    assert verify("-verify_hostname", "localhost").strip().endswith(": OK")
    assert "OK" not in verify("-verify_ip", "10.0.0.1")


def test_token_file_grants_the_admin_group(tmp_path: Path) -> None:
    creds = generate_credentials(tmp_path)
    token, user, uid, groups = creds.token_file.read_text().strip().split(",")
    assert (token, user, uid, groups) == (creds.token, ADMIN_USER, ADMIN_USER, f'"{ADMIN_GROUP}"')
    assert creds.token_file.stat().st_mode & 0o077 == 0
    assert creds.token != generate_credentials(tmp_path / "again").token


async def test_kubeconfig_is_read_by_rayops_loader(tmp_path: Path) -> None:
    creds = generate_credentials(tmp_path)
    path = write_kubeconfig(
        tmp_path / "kubeconfig", server="https://127.0.0.1:6443", credentials=creds
    )
    config = await load_kubeconfig(path)
    assert config.host == "https://127.0.0.1:6443"
    assert config.api_key["BearerToken"] == f"Bearer {creds.token}"
    assert config.ssl_ca_cert == str(creds.ca_cert)


def test_version_comes_from_go_mod() -> None:
    go_mod = (Path(__file__).parent / "go.mod").read_text()
    assert re.search(rf"^\tk8s\.io/kubernetes {re.escape(kube_version())}\b", go_mod, re.M)
    assert kube_version().startswith("v1.")


def test_missing_apiserver_says_how_to_prepare(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RAYOP_KUBE_BIN_DIR", str(tmp_path))
    with pytest.raises(BinariesMissing, match=r"prepare\.sh"):
        locate_binaries()


def test_controller_manager_is_optional(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("kube-apiserver", "etcd"):
        (tmp_path / name).write_text("#!/bin/sh\n")
        (tmp_path / name).chmod(0o755)
    monkeypatch.setenv("RAYOP_KUBE_BIN_DIR", str(tmp_path))
    monkeypatch.delenv("RAYOP_ETCD", raising=False)
    found = locate_binaries()
    assert (found.apiserver, found.etcd, found.controller_manager) == (
        tmp_path / "kube-apiserver",
        tmp_path / "etcd",
        None,
    )
