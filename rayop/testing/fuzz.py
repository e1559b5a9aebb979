"""Hostile objects, generated from a seed: what a user allowed to create a resource could send.

A reconciler sees whatever the API server accepts. :class:`Fuzzer` makes such objects from a
well-formed one (a sample manifest) and the kind's CRD schema, by a few seeded mutations each:

- ``schema``: a field the schema declares, set to a value of its type chosen from the edges
  (empty and 64 KiB strings, odd unicode, YAML bombs in string fields, integers at 0, -1 and
  int64's ends, numbers near float's limits, long arrays, maps with odd keys) — most pass the
  server's validation and reach the reconciler;
- ``retype``: a field the object has, replaced by a value of another type (a list where a mapping
  was, a number where a string was) — the server accepts it wherever the schema is open
  (``x-kubernetes-preserve-unknown-fields``: a pod template), and rejects it elsewhere;
- ``drop``: a field the object has, removed;
- ``graft``: a new key with junk in a mapping the object has (deep nesting up to the server's
  10,000 levels, wide maps, unicode keys).

The same seed gives the same objects (``random.Random(seed)``, no other source), so a failing case
is replayed from its seed and index alone::

    fuzzer = Fuzzer(seed=7)
    case = fuzzer.case(sample, schema)      # -> FuzzCase(obj, mutations)

Nothing here knows about Ray: any kind with a sample and a CRD schema can be fuzzed.
"""

from __future__ import annotations

import asyncio
import copy
import itertools
import random
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any

from rayop.runtime import jsoncodec
from rayop.runtime.client import Obj
from rayop.runtime.limits import field_path
from rayop.runtime.status import INVALID_SPEC_REASON

__all__ = [
    "HOSTILE_STRINGS",
    "HOSTILE_YAML",
    "MAX_OBJECT_BYTES",
    "FuzzCase",
    "Fuzzer",
    "LoopLag",
    "billion_laughs",
    "schema_paths",
    "verdict",
]

Path = tuple[str | int, ...]

MAX_OBJECT_BYTES = 1_400_000
"""The largest object generated: etcd stores at most 1.5 MiB per key, so the API server refuses
larger ones (the fake does not yet)."""


def billion_laughs(levels: int, width: int = 9) -> str:
    """A YAML mapping whose level i lists level i - 1 ``width`` times: width**levels nodes."""
    lines = ["l0: &l0 [lol]"]
    lines += [f"l{i}: &l{i} [{', '.join([f'*l{i - 1}'] * width)}]" for i in range(1, levels + 1)]
    return "\n".join(lines) + "\n"


HOSTILE_YAML: tuple[str, ...] = (
    billion_laughs(9),  # a billion laughs: 9**9 nodes from 300 bytes
    billion_laughs(4),  # a small expansion: 6,561 nodes, allowed
    "a: &a [*a]\n",                               # an alias inside its own anchor
    "a: &a " + "x" * 100_000 + "\nb: [" + ", ".join(["*a"] * 100) + "]\n",  # 10 MB by alias
    "[" * 10_000,                                 # past every parser's nesting limit
    "{a: " * 80 + "1" + "}" * 80,                 # past rayop's 64 levels, within libyaml's
    "a: 1\na: 2\n",                               # a duplicate key
    "!!python/object/apply:os.system ['true']\n",  # a tag the safe loader refuses
    "---\na: 1\n---\nb: 2\n",                     # two documents
    "\ufeffpip: [requests]\n",                    # a byte-order mark
    "pip: [requests]\n\tworking_dir: .\n",        # a tab in indentation
    "env_vars: {A: " + "x" * 200_000 + "}\n",     # a 200 KB scalar
    "base: &b {pip: [x]}\nmerged: {<<: *b, conda: y}\n",  # merge keys
    "applications:\n- name: a\n  import_path: m:app\n  route_prefix: /a\n"
    "  deployments: [{name: d, num_replicas: -1}]\n",
    "applications: {}\n",
    "pip: [requests]\n",
    "",
)
"""YAML documents aimed at parsers: bombs, recursion, nesting, and a few ordinary ones."""

HOSTILE_STRINGS: tuple[str, ...] = (
    "", " ", "\n", "\x00", "\u202e\u0000\u200b", "\U0001f4a5" * 1_000, "a" * 65_536,
    "${HOME}", "$(reboot)", "'; rm -rf / #", "--help", "-", "1e999", "-0", "NaN", "true",
    "\\", "%s%n%x", "http://user:hunter2@example.invalid/", "../../etc/passwd",
    "\uff32\uff21\uff39", "e\u0301", "\ud7ff", "x" * 253,
)
"""Strings aimed at code that quotes, formats, parses or measures them."""

_INTS = (0, -1, 1, 2, 7, 2**31 - 1, 2**31, 2**53 + 1, 2**63 - 1, -(2**63))
_NUMBERS = (0.0, -0.0, 0.5, 1e-300, 5e-324, 1.7976931348623157e308, -1e308, 3.0)


def schema_paths(
    schema: Mapping[str, Any], prefix: Path = ()
) -> Iterator[tuple[Path, Mapping[str, Any]]]:
    """Every field an OpenAPI v3 schema declares, with its schema (arrays as index 0).

    Iterative over the schema's shape; a map's values (``additionalProperties``) appear under
    the key ``"fuzzed"``.
    """
    stack: list[tuple[Path, Mapping[str, Any]]] = [(prefix, schema)]
    while stack:
        path, node = stack.pop()
        if path:
            yield path, node
        for name, child in (node.get("properties") or {}).items():
            stack.append(((*path, name), child))
        items = node.get("items")
        if isinstance(items, Mapping):
            stack.append(((*path, 0), items))
        extra = node.get("additionalProperties")
        if isinstance(extra, Mapping):
            stack.append(((*path, "fuzzed"), extra))


@dataclass
class FuzzCase:
    """One generated object and the mutations that made it (for a report or a replay)."""

    obj: Obj
    mutations: list[str] = field(default_factory=list)


class Fuzzer:
    """Seeded generator of hostile objects; see the module's docstring."""

    def __init__(self, seed: int, *, max_depth: int = 9_000,
                 max_bytes: int = MAX_OBJECT_BYTES) -> None:
        self.rng = random.Random(seed)
        self.max_depth = max_depth
        self.max_bytes = max_bytes

    def case(self, sample: Obj, schema: Mapping[str, Any], *, root: str = "spec",
             mutations: int = 3) -> FuzzCase:
        """A copy of ``sample`` with 1..``mutations`` mutations under ``root``."""
        obj = copy.deepcopy(sample)
        done: list[str] = []
        declared = [(p, s) for p, s in schema_paths(schema) if p[:1] == (root,) and len(p) > 1]
        for _ in range(self.rng.randint(1, mutations)):
            before = jsoncodec.dumps(obj)
            op = self.rng.choice(("schema", "schema", "retype", "drop", "graft"))
            if op == "schema":
                path, sub = self.rng.choice(declared)
                if not _set(obj, path, self.value(sub)):
                    continue  # the path crosses a value of another shape
            else:
                present = [p for p in _object_paths(obj) if p[:1] == (root,) and len(p) > 1]
                if not present:
                    continue
                path = self.rng.choice(present)
                if op == "retype":
                    if not _set(obj, path, self.junk()):
                        continue
                elif op == "drop":
                    _drop(obj, path)
                else:
                    target = _get(obj, path)
                    if not isinstance(target, dict):
                        continue
                    key = self.key()
                    target[key] = self.junk()
                    path = (*path, key)
            if len(jsoncodec.dumps(obj)) > self.max_bytes:
                obj = jsoncodec.loads(before)  # larger than the API server stores: not a case
                continue
            done.append(f"{op} {field_path(path)}")
        return FuzzCase(obj, done)

    # -- values -----------------------------------------------------------------------------------

    def value(self, schema: Mapping[str, Any], depth: int = 0) -> Any:
        """A value of the schema's type, from the edges of that type."""
        rng = self.rng
        if schema.get("enum") and rng.random() < 0.8:
            return rng.choice(list(schema["enum"]))
        if schema.get("x-kubernetes-int-or-string"):
            return rng.choice((self.string(), rng.choice(_INTS)))
        kind = schema.get("type")
        if kind == "string":
            return self.string()
        if kind == "integer":
            low = schema.get("minimum")
            ints = [i for i in _INTS if low is None or i >= low]
            return rng.choice(ints)
        if kind == "number":
            return rng.choice(_NUMBERS + _INTS[:5])
        if kind == "boolean":
            return rng.random() < 0.5
        if kind == "array":
            items = schema.get("items") or {}
            count = rng.choice((0, 1, 2, 3, 500)) if depth < 3 else rng.randint(0, 1)
            return [self.value(items, depth + 1) for _ in range(count)]
        if kind == "object" or "properties" in schema:
            if schema.get("x-kubernetes-preserve-unknown-fields") and rng.random() < 0.3:
                return self.junk_map()
            out: dict[str, Any] = {}
            props: Mapping[str, Any] = schema.get("properties") or {}
            required = set(schema.get("required") or ())
            for name, sub in props.items():
                if depth < 4 and (name in required or rng.random() < 0.3):
                    out[name] = self.value(sub, depth + 1)
            extra = schema.get("additionalProperties")
            if isinstance(extra, Mapping):
                for _ in range(rng.choice((0, 1, 3, 200))):
                    out[self.key()] = self.value(extra, depth + 1)
            return out
        return self.junk()

    def string(self) -> str:
        """A hostile string: a YAML document aimed at parsers, or a string aimed at formatters."""
        pool = HOSTILE_YAML if self.rng.random() < 0.4 else HOSTILE_STRINGS
        return self.rng.choice(pool)

    def key(self) -> str:
        """A map key: ordinary, empty, unicode, dotted, very long."""
        return self.rng.choice(("fuzzed", "", "ключ", "a.b/c", "$ref", "k" * 1_000,
                                "\U0001f4a5", "spec", "metadata"))

    def junk(self) -> Any:
        """A value of any type: scalar edges, a list, a map, or deep nesting."""
        pick = self.rng.random()
        if pick < 0.25:
            return self.string()
        if pick < 0.4:
            return self.rng.choice(_INTS + _NUMBERS + (True, False, None))
        if pick < 0.55:
            return [self.string() for _ in range(self.rng.randint(0, 4))]
        if pick < 0.7:
            return self.junk_map()
        return self.nest(self.rng.choice((3, 20, 70, 300, 2_000, self.max_depth)))

    def junk_map(self) -> dict[str, Any]:
        """A map with odd keys and scalar values, sometimes wide."""
        width = self.rng.choice((0, 1, 3, 1_000))
        return {f"{self.key()}{i}": self.rng.choice(_INTS + HOSTILE_STRINGS[:6])
                for i in range(width)}

    def nest(self, depth: int) -> Any:
        """Lists and maps alternating ``depth`` levels deep around a string."""
        value: Any = self.rng.choice(HOSTILE_STRINGS[:4])
        for level in range(depth):
            value = [value] if level % 2 else {"x": value}
        return value


def _object_paths(obj: Any) -> list[Path]:
    """Every path in a JSON value, without recursion (not below 12 levels: mutations stay near)."""
    out: list[Path] = []
    stack: list[tuple[Path, Any]] = [((), obj)]
    while stack:
        path, node = stack.pop()
        if path:
            out.append(path)
        if len(path) >= 12:
            continue
        if isinstance(node, dict):
            stack.extend(((*path, k), v) for k, v in node.items())
        elif isinstance(node, list):
            stack.extend(((*path, i), v) for i, v in enumerate(node))
    return out


def _get(obj: Any, path: Path) -> Any:
    for part in path:
        try:
            obj = obj[part]
        except (KeyError, IndexError, TypeError):
            return None
    return obj


def _set(obj: Any, path: Path, value: Any) -> bool:
    """Set ``path`` to ``value``, making the mappings and lists on the way.

    False, and ``value`` not set, when the path crosses a value of another shape (a list where
    the path names a key).
    """
    node = obj
    for part, nxt in itertools.pairwise(path):
        empty: Any = [] if isinstance(nxt, int) else {}
        if isinstance(node, dict) and isinstance(part, str):
            if not isinstance(node.get(part), (dict, list)):
                node[part] = empty
            node = node[part]
        elif isinstance(node, list) and isinstance(part, int):
            while len(node) <= part:
                node.append(copy.deepcopy(empty))
            if not isinstance(node[part], (dict, list)):
                node[part] = empty
            node = node[part]
        else:
            return False
    last = path[-1]
    if isinstance(node, dict) and isinstance(last, str):  # JSON keys are strings
        node[last] = value
        return True
    if isinstance(node, list) and isinstance(last, int):
        while len(node) <= last:
            node.append(None)
        node[last] = value
        return True
    return False


def _drop(obj: Any, path: Path) -> None:
    parent = _get(obj, path[:-1])
    last = path[-1]
    if isinstance(parent, dict):
        parent.pop(last, None)
    elif isinstance(parent, list) and isinstance(last, int) and last < len(parent):
        del parent[last]


_FIELD_ROOTS = ("spec", "metadata", "apiVersion", "kind")


def verdict(obj: Obj, events: Sequence[Obj]) -> str | None:
    """What is wrong with how an operator handled ``obj``, or None when it was handled.

    Handled means what a user checks with ``kubectl describe``: the status observed the object's
    generation, and a refusal (``reason: ValidationFailed``, the kit's
    :meth:`~rayop.runtime.status.StatusWriter.reject`) has a message naming a field and one
    ``InvalidSpec`` Warning event about the object saying the same. ``events`` are the Events
    whose ``involvedObject`` is ``obj``.
    """
    status = obj.get("status") or {}
    generation = obj["metadata"].get("generation")
    if status.get("observedGeneration") != generation:
        return f"no status for generation {generation}: {str(status)[:200]}"
    if status.get("reason") != INVALID_SPEC_REASON:
        return None
    message = str(status.get("message") or "")
    if not message.startswith(_FIELD_ROOTS):
        return f"refused without naming a field: {message[:200]!r}"
    warnings = [e for e in events
                if e.get("type") == "Warning" and e.get("reason") == "InvalidSpec"]
    if len(warnings) != 1:
        return f"{len(warnings)} InvalidSpec Warning events, not one"
    if str(warnings[0].get("message") or "")[:200] != message[:200]:
        return "the InvalidSpec Warning does not say what the status says"
    return None


class LoopLag:
    """The longest the event loop was busy without a break, measured from a second thread.

    Every ``interval`` seconds of wall time the thread hands the loop a callback and notes how
    long the loop took to run it: a reconcile that walks a YAML bomb or recurses for seconds shows
    up as that long a lag. Use as ``async with LoopLag() as lag: ...``, then read ``lag.max``
    (seconds). Wall time, on purpose: the virtual clock does not move while the loop is blocked.
    """

    def __init__(self, interval: float = 0.01) -> None:
        self.interval = interval
        self.max = 0.0
        self.samples = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    async def __aenter__(self) -> LoopLag:
        self._loop = asyncio.get_running_loop()
        self._thread = threading.Thread(target=self._watch, name="rayop-looplag", daemon=True)
        self._thread.start()
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None,
                        exc: BaseException | None, tb: TracebackType | None) -> None:
        self._stop.set()
        if self._thread is not None:
            await asyncio.to_thread(self._thread.join)

    def _watch(self) -> None:
        assert self._loop is not None
        while not self._stop.wait(self.interval):
            ran = threading.Event()
            sent = time.perf_counter()
            try:
                self._loop.call_soon_threadsafe(ran.set)
            except RuntimeError:  # the loop closed
                return
            while not ran.wait(0.5):
                if self._stop.is_set():
                    return
            self.max = max(self.max, time.perf_counter() - sent)
            self.samples += 1
