"""Logging for the ``rayop`` process: structlog, JSON or console, with secrets kept out.

Every line a reconcile writes carries the controller, the object's namespace and name and a
reconcile id (bound by the controller). Values under keys that name secrets — tokens, passwords,
environment variables of pod specs — are replaced with ``[redacted]`` before anything is printed,
and so are, inside any text, the secret values of the object a failed reconcile was about
(:mod:`rayop.runtime.redaction`).
"""

from __future__ import annotations

import logging
import sys
from collections.abc import MutableMapping
from typing import Any, Literal

import structlog

from rayop.runtime.redaction import REDACTED, SECRET_KEY, current_secrets, scrub

__all__ = ["LogFormat", "configure_logging", "redact"]

LogFormat = Literal["json", "console"]

_SECRET_KEY = SECRET_KEY
_REDACTED = REDACTED


def _scrub(value: Any, depth: int = 0) -> Any:
    if depth > 6:
        return value
    if isinstance(value, dict):
        return {k: _REDACTED if _SECRET_KEY.search(str(k)) else _scrub(v, depth + 1)
                for k, v in value.items()}
    if isinstance(value, list):
        return [_scrub(v, depth + 1) for v in value]
    return value


def redact(
    logger: Any, method: str, event: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    """A structlog processor: blank values under secret-looking keys, at any depth.

    Inside text it also replaces the secret values of the object a failed reconcile was about
    (:mod:`rayop.runtime.redaction`).
    """
    values = current_secrets()
    for key in list(event):
        if _SECRET_KEY.search(key):
            event[key] = _REDACTED
        else:
            value = _scrub(event[key])
            event[key] = scrub(value, values) if isinstance(value, str) else value
    return event


class _StderrLogger:
    """Writes each rendered line to whatever ``sys.stderr`` is *now* (tests swap it)."""

    def msg(self, message: str) -> None:
        print(message, file=sys.stderr, flush=True)

    log = debug = info = warn = warning = error = critical = exception = fatal = msg


def _stderr_logger(*args: Any) -> _StderrLogger:
    return _StderrLogger()


class _StderrHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """A stdlib handler that writes to whatever ``sys.stderr`` is now."""

    @property
    def stream(self) -> Any:
        """The current standard error."""
        return sys.stderr

    @stream.setter
    def stream(self, value: Any) -> None:
        pass


def configure_logging(*, fmt: LogFormat = "console", level: str = "info") -> None:
    """Configure structlog, and the stdlib root logger through the same renderer.

    Libraries that log with :mod:`logging` (asyncio, aiohttp, kubernetes-asyncio) come out in the
    same format — one JSON object per line with ``--log-format json`` — and are redacted too.
    """
    numeric = logging.getLevelName(level.upper())
    if not isinstance(numeric, int):
        raise ValueError(f"unknown log level {level!r}")
    renderer: Any = (structlog.processors.JSONRenderer() if fmt == "json"
                     else structlog.dev.ConsoleRenderer(colors=sys.stderr.isatty()))
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        redact,
    ]
    structlog.configure(
        processors=[*shared, structlog.processors.format_exc_info, renderer],
        wrapper_class=structlog.make_filtering_bound_logger(numeric),
        logger_factory=_stderr_logger,
        cache_logger_on_first_use=False,
    )
    handler = _StderrHandler()
    handler.setFormatter(structlog.stdlib.ProcessorFormatter(
        processor=renderer,
        foreign_pre_chain=[structlog.stdlib.add_logger_name, *shared],
    ))
    root = logging.getLogger()
    for old in [h for h in root.handlers if isinstance(h, _StderrHandler)]:
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(numeric)
