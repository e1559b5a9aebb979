"""Credentials for a throwaway API server: a CA, a serving certificate, SA keys, a token file.

Everything is generated with the ``openssl`` command into one directory, valid for two days, and
good only for 127.0.0.1/localhost. The single bearer token belongs to ``system:masters``, the group
RBAC's bootstrap policy lets do anything.
"""

from __future__ import annotations

import json
import secrets
import subprocess
from dataclasses import dataclass
from pathlib import Path

ADMIN_USER = "rayop-admin"
ADMIN_GROUP = "system:masters"

_EC_KEY = ("-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes")
LOOPBACK_NAMES = ("IP:127.0.0.1", "DNS:localhost")
"""The serving certificate's subject alternative names unless the caller gives its own."""


@dataclass(frozen=True, kw_only=True)
class Credentials:
    """Paths of the generated files, and the admin bearer token."""

    ca_cert: Path
    server_cert: Path
    server_key: Path
    sa_public_key: Path
    sa_private_key: Path
    token_file: Path
    token: str
    user_tokens: dict[str, str]

    def client_cert(self, name: str) -> tuple[Path, Path]:
        """The certificate and key of client ``name`` (see ``client_certs``)."""
        return self.ca_cert.parent / f"{name}.crt", self.ca_cert.parent / f"{name}.key"


def generate_credentials(
    directory: Path,
    *,
    server_names: tuple[str, ...] = LOOPBACK_NAMES,
    users: dict[str, str] | None = None,
    client_certs: dict[str, str] | None = None,
) -> Credentials:
    """Generate a CA, a serving certificate signed by it, SA signing keys and a token file.

    ``server_names`` are the serving certificate's subject alternative names (``IP:...``,
    ``DNS:...``). ``users`` maps further user names to their group (``""`` for none): each gets a
    token of its own, in ``Credentials.user_tokens``. ``client_certs`` maps a file stem to a
    ``/O=group/CN=name`` subject: a client certificate signed by the CA for each.
    """
    directory.mkdir(parents=True, exist_ok=True)
    _make_ca(directory)
    _make_server_cert(directory, server_names)
    _make_service_account_keys(directory)
    for stem, subject in (client_certs or {}).items():
        _make_client_cert(directory, stem, subject)
    token = secrets.token_hex(24)
    tokens = {user: secrets.token_hex(24) for user in users or {}}
    lines = [f'{token},{ADMIN_USER},{ADMIN_USER},"{ADMIN_GROUP}"']
    lines += [f'{tokens[user]},{user},{user},"{group}"' for user, group in (users or {}).items()]
    token_file = directory / "tokens.csv"
    token_file.write_text("\n".join(lines) + "\n")
    token_file.chmod(0o600)
    return Credentials(
        ca_cert=directory / "ca.crt",
        server_cert=directory / "server.crt",
        server_key=directory / "server.key",
        sa_public_key=directory / "sa.pub",
        sa_private_key=directory / "sa.key",
        token_file=token_file,
        token=token,
        user_tokens=tokens,
    )


def write_kubeconfig(
    path: Path, *, server: str, credentials: Credentials, user: str = ADMIN_USER
) -> Path:
    """Write a kubeconfig (JSON, which is YAML) for ``user``'s token (the admin's by default)."""
    token = credentials.token if user == ADMIN_USER else credentials.user_tokens[user]
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {
                "name": "realapi",
                "cluster": {
                    "server": server,
                    "certificate-authority": str(credentials.ca_cert),
                },
            }
        ],
        "users": [{"name": user, "user": {"token": token}}],
        "contexts": [{"name": "realapi", "context": {"cluster": "realapi", "user": user}}],
        "current-context": "realapi",
    }
    path.write_text(json.dumps(config, indent=2) + "\n")
    path.chmod(0o600)
    return path


def _make_ca(directory: Path) -> None:
    _openssl(
        "req", "-x509", *_EC_KEY, "-days", "2", "-subj", "/CN=rayop-realapi-ca",
        "-keyout", "ca.key", "-out", "ca.crt", cwd=directory,
    )  # fmt: skip


def _make_server_cert(directory: Path, names: tuple[str, ...]) -> None:
    (directory / "server.ext").write_text(
        f"subjectAltName = {', '.join(names)}\n"
        "keyUsage = critical, digitalSignature, keyEncipherment\n"
        "extendedKeyUsage = serverAuth\n"
    )
    _openssl(
        "req", "-new", *_EC_KEY, "-subj", "/CN=kube-apiserver",
        "-keyout", "server.key", "-out", "server.csr", cwd=directory,
    )  # fmt: skip
    _openssl(
        "x509", "-req", "-in", "server.csr", "-CA", "ca.crt", "-CAkey", "ca.key",
        "-CAcreateserial", "-days", "2", "-extfile", "server.ext", "-out", "server.crt",
        cwd=directory,
    )  # fmt: skip


def _make_client_cert(directory: Path, stem: str, subject: str) -> None:
    (directory / "client.ext").write_text(
        "keyUsage = critical, digitalSignature, keyEncipherment\nextendedKeyUsage = clientAuth\n"
    )
    _openssl(
        "req", "-new", *_EC_KEY, "-subj", subject,
        "-keyout", f"{stem}.key", "-out", f"{stem}.csr", cwd=directory,
    )  # fmt: skip
    _openssl(
        "x509", "-req", "-in", f"{stem}.csr", "-CA", "ca.crt", "-CAkey", "ca.key",
        "-CAcreateserial", "-days", "2", "-extfile", "client.ext", "-out", f"{stem}.crt",
        cwd=directory,
    )  # fmt: skip


def _make_service_account_keys(directory: Path) -> None:
    # ES256: kube-apiserver signs service-account tokens with EC keys too, and they are quick.
    _openssl("ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", "sa.key", cwd=directory)
    _openssl("ec", "-in", "sa.key", "-pubout", "-out", "sa.pub", cwd=directory)


def _openssl(*args: str, cwd: Path) -> None:
    result = subprocess.run(
        ["openssl", *args], cwd=cwd, capture_output=True, text=True, check=False
    )
    if result.returncode != 0:
        raise RuntimeError(f"openssl {args[0]} failed: {result.stderr.strip()}")
