"""Secrets kept out of status, Events and logs — by value, not only by key.

The log processor (:mod:`rayop.runtime.logs`) blanks values under keys that name secrets. But a
secret also travels inside text: the API server's refusal of a pod quotes the pod's fields, an
error quotes a URL with a password in it, a message names a runtime environment. So every Event
and refusal message about an object is scrubbed of the secret *values* that object holds:

- the values of environment variables (``env: [{name, value}]`` anywhere in the object);
- strings under keys that name secrets (``password``, ``token``, ``secret``, ...);
- the password of any URL with credentials (``https://user:pw@host``);
- whatever a domain adds (``extra``): rayop's Ray layer adds the ``env_vars`` of runtime
  environments, which live in YAML strings.

Values shorter than :data:`MIN_SECRET` characters are left alone (``"1"`` or ``"true"`` would
redact half of every message). URL passwords are scrubbed from every text, known or not::

    >>> scrub("GET https://ray:hunter22@example.com failed", secret_values({}))
    'GET https://ray:[redacted]@example.com failed'
"""

from __future__ import annotations

import contextvars
import re
from collections.abc import Callable, Iterable
from typing import Any

__all__ = [
    "MIN_SECRET",
    "REDACTED",
    "SECRET_KEY",
    "current_secrets",
    "scrub",
    "secret_values",
    "use_secrets",
]

REDACTED = "[redacted]"
MIN_SECRET = 6
"""The shortest value redacted by value."""
SECRET_KEY = re.compile(
    r"(token|password|passwd|secret|authorization|credential|^env$|env_vars)", re.IGNORECASE)
"""Keys whose values are secrets (the log processor blanks them whole)."""
_URL_CREDENTIALS = re.compile(r"([a-zA-Z][a-zA-Z0-9+.-]*://[^/@\s:]+:)([^/@\s]+)(@)")

_current: contextvars.ContextVar[frozenset[str]] = contextvars.ContextVar(
    "rayop_secrets", default=frozenset())


def secret_values(obj: Any, *, extra: Callable[[Any], Iterable[str]] | None = None
                  ) -> frozenset[str]:
    """The secret values ``obj`` holds (see the module's docstring); iterative, any depth."""
    found: set[str] = set()
    stack: list[tuple[Any, str]] = [(obj, "")]
    while stack:
        node, key = stack.pop()
        if isinstance(node, dict):
            if key == "env[]" and isinstance(node.get("value"), str):
                found.add(node["value"])  # a container's env var
            for name, child in node.items():
                if SECRET_KEY.search(str(name)):
                    if isinstance(child, str):
                        found.add(child)
                    elif isinstance(child, dict):  # env_vars: {NAME: value}
                        found.update(v for v in child.values() if isinstance(v, str))
                stack.append((child, str(name)))
        elif isinstance(node, list):
            item_key = "env[]" if key == "env" else key
            stack.extend((child, item_key) for child in node)
        elif isinstance(node, str) and "://" in node:
            found.update(m.group(2) for m in _URL_CREDENTIALS.finditer(node))
    if extra is not None:
        found.update(extra(obj))
    return frozenset(v for v in found if len(v) >= MIN_SECRET)


def scrub(text: str, secrets: Iterable[str]) -> str:
    """``text`` with every secret value, and every URL password, replaced by ``[redacted]``."""
    for value in sorted(secrets, key=len, reverse=True):
        if value in text:
            text = text.replace(value, REDACTED)
    return _URL_CREDENTIALS.sub(lambda m: m.group(1) + REDACTED + m.group(3), text)


def use_secrets(values: frozenset[str]) -> None:
    """Make ``values`` the secrets the log processor scrubs in this task from now on."""
    _current.set(values)


def current_secrets() -> frozenset[str]:
    """The secrets :func:`use_secrets` set in this task (empty when none)."""
    return _current.get()
