"""A scripted stand-in for the Kubernetes API server, for testing KubeClient over real HTTP.

Each test queues the answers it wants (:meth:`KubeServer.reply`, :meth:`KubeServer.status`,
:meth:`KubeServer.stream`); every request is recorded in :attr:`KubeServer.seen`. A request with
nothing queued answers 418, which no retry policy retries, so a missing script fails loudly.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import yaml
from aiohttp import web
from aiohttp.test_utils import TestServer


@dataclass(frozen=True)
class Seen:
    """One request as the server received it."""

    method: str
    path: str
    query: dict[str, str]
    headers: Mapping[str, str]
    body: bytes

    def json(self) -> Any:
        return orjson.loads(self.body)


@dataclass(frozen=True)
class Reply:
    """One scripted plain answer."""

    status: int = 200
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Stream:
    """One scripted watch answer: lines written one by one, then the end (or held open)."""

    chunks: tuple[bytes, ...]
    hold: bool = False


def status_body(code: int, reason: str, message: str, **details: Any) -> dict[str, Any]:
    """Return a ``Status`` failure object as the API server writes it."""
    body: dict[str, Any] = {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": message,
        "reason": reason,
        "code": code,
    }
    if details:
        body["details"] = details
    return body


class KubeServer:
    """An aiohttp server on 127.0.0.1 that answers from a script and records what it saw."""

    def __init__(self) -> None:
        self.seen: list[Seen] = []
        self.client_left = asyncio.Event()
        self._script: deque[Reply | Stream] = deque()
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._server = TestServer(app, host="127.0.0.1")

    async def start(self) -> None:
        await self._server.start_server()

    async def close(self) -> None:
        await self._server.close()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.port}"

    # -- scripting ------------------------------------------------------------------------------

    def reply(
        self, status: int = 200, body: Any = None, *, headers: dict[str, str] | None = None
    ) -> None:
        """Queue an answer: a dict or list goes as JSON, str or bytes as text."""
        headers = dict(headers or {})
        if isinstance(body, dict | list):
            raw = orjson.dumps(body)
            headers.setdefault("Content-Type", "application/json")
        else:
            raw = body.encode() if isinstance(body, str) else (body or b"")
            headers.setdefault("Content-Type", "text/plain")
        self._script.append(Reply(status, raw, headers))

    def status(
        self, code: int, reason: str, message: str = "", *, headers: dict[str, str] | None = None,
        **details: Any,
    ) -> None:
        """Queue a ``Status`` failure."""
        self.reply(code, status_body(code, reason, message, **details), headers=headers)

    def stream(self, *events: dict[str, Any] | bytes, hold: bool = False) -> None:
        """Queue a watch stream: each dict becomes one JSON line, bytes go out as they are."""
        chunks = tuple(e if isinstance(e, bytes) else orjson.dumps(e) + b"\n" for e in events)
        self._script.append(Stream(chunks, hold))

    def kubeconfig(self, path: Path, *, contexts: Mapping[str, str], current: str) -> Path:
        """Write a kubeconfig whose contexts (name -> bearer token) all point at this server."""
        config = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{"name": "test", "cluster": {"server": self.url}}],
            "users": [{"name": name, "user": {"token": tok}} for name, tok in contexts.items()],
            "contexts": [
                {"name": name, "context": {"cluster": "test", "user": name, "namespace": "ns"}}
                for name in contexts
            ],
            "current-context": current,
        }
        path.write_text(yaml.safe_dump(config))
        return path

    # -- serving --------------------------------------------------------------------------------

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        self.seen.append(
            Seen(
                request.method,
                request.path,
                dict(request.query),
                request.headers.copy(),
                await request.read(),
            )
        )
        if not self._script:
            body = status_body(418, "Unscripted", f"nothing scripted for {request.path}")
            return web.Response(status=418, body=orjson.dumps(body))
        item = self._script.popleft()
        if isinstance(item, Stream):
            return await self._stream(request, item)
        return web.Response(status=item.status, body=item.body, headers=item.headers)

    async def _stream(self, request: web.Request, item: Stream) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "application/json"})
        response.enable_chunked_encoding()
        await response.prepare(request)
        for chunk in item.chunks:
            await response.write(chunk)
        if item.hold:
            try:
                await asyncio.Event().wait()
            except asyncio.CancelledError:
                self.client_left.set()
                raise
        await response.write_eof()
        return response


class StepClock:
    """A Clock for tests over real sockets: ``sleep`` records the delay and moves time at once."""

    def __init__(self) -> None:
        self.sleeps: list[float] = []
        self._elapsed = 0.0

    def now(self) -> datetime:
        return datetime(2026, 1, 1, tzinfo=UTC) + timedelta(seconds=self._elapsed)

    def monotonic(self) -> float:
        return self._elapsed

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self._elapsed += seconds
        await asyncio.sleep(0)
