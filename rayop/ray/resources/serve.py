"""Ray Serve configs: the YAML in ``serveConfigV2``, the structured ``serveDeploymentGraphSpec``.

Both end as the JSON document Ray's ``PUT /api/serve/applications/`` takes
(``{"applications": [{"name", "route_prefix", "import_path", "runtime_env", "deployments"}]}``).
The checks here are the ones Serve itself would make on that document, so a config rayop accepts
is not refused by the cluster for its shape; they return problems, never raise.
"""

from __future__ import annotations

import functools
from typing import Any

import yaml
from pydantic import Field
from pydantic.alias_generators import to_snake

from rayop.ray.resources.common import Number, Problem, describe_value
from rayop.runtime.errors import RayopError
from rayop.runtime.models import WireModel

__all__ = [
    "MAX_YAML_CHARS",
    "MAX_YAML_DEPTH",
    "MAX_YAML_NODES",
    "ServeDeploymentGraphSpec",
    "ServeDeploymentSpec",
    "YAMLTooBig",
    "check_serve_config",
    "check_serve_config_text",
    "graph_spec_to_serve_config",
    "import_path_problems",
    "load_yaml",
    "parse_yaml_mapping",
    "route_prefix_problems",
    "yaml_error_text",
]

DEFAULT_APP_NAME = "default"

_FAST_LOADER: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


MAX_YAML_DEPTH = 64
"""The deepest nesting of a YAML document rayop parses (as for specs: ``rayop.runtime.limits``)."""

MAX_YAML_NODES = 100_000
"""The most nodes a YAML document may have once its aliases are expanded (a billion laughs has
10**9 from 600 bytes): what is sent to Ray is the expanded document."""


MAX_YAML_CHARS = 4 * 2**20
"""The most scalar text a YAML document may hold once its aliases are expanded (4 MiB): a 100 KB
string named a thousand times is 100 MB sent to Ray."""


class YAMLTooBig(RayopError, yaml.YAMLError):
    """A YAML document beyond rayop's bounds: too deep, or too large once aliases are expanded."""

    def __init__(self, problem: str, mark: Any = None) -> None:
        super().__init__(problem)
        self.problem = problem
        self.problem_mark = mark


def _check_bounds(text: str, loader: Any) -> None:
    """Walk the document's events (no recursion, no construction) and refuse it past the bounds.

    Depth counts open collections; the expanded size counts each node, and each scalar's text,
    once per place it appears — an alias counting as the whole node it names — so aliases of
    aliases multiply as they would when Ray's JSON is built. An alias to a collection still
    open (a recursive document) is refused too.
    """
    sizes: dict[str, tuple[int, int]] = {}  # anchor -> (nodes, chars) of its finished node
    open_anchors: set[str] = set()
    stack: list[tuple[str | None, int, int]] = []  # (anchor, nodes, chars) per open collection
    total_nodes = total_chars = 0  # of the finished top-level nodes

    def finish(anchor: str | None, nodes: int, chars: int, mark: Any) -> None:
        nonlocal total_nodes, total_chars
        if anchor:
            sizes[anchor] = (nodes, chars)
        if stack:
            parent, parent_nodes, parent_chars = stack[-1]
            stack[-1] = (parent, parent_nodes + nodes, parent_chars + chars)
        else:
            total_nodes += nodes
            total_chars += chars
        if total_nodes + sum(n for _, n, _ in stack) > MAX_YAML_NODES:
            raise YAMLTooBig(f"expands to more than {MAX_YAML_NODES} nodes (through its aliases)",
                             mark)
        if total_chars + sum(c for _, _, c in stack) > MAX_YAML_CHARS:
            raise YAMLTooBig(f"expands to more than {MAX_YAML_CHARS // 2**20} MiB of text "
                             "(through its aliases)", mark)

    for event in yaml.parse(text, Loader=loader):
        mark = event.start_mark
        if isinstance(event, yaml.CollectionStartEvent):
            if len(stack) >= MAX_YAML_DEPTH:
                raise YAMLTooBig(f"nests deeper than {MAX_YAML_DEPTH} levels", mark)
            anchor = event.anchor
            if anchor:
                open_anchors.add(anchor)
            stack.append((anchor, 1, 0))
        elif isinstance(event, yaml.CollectionEndEvent):
            anchor, nodes, chars = stack.pop()
            if anchor:
                open_anchors.discard(anchor)
            finish(anchor, nodes, chars, mark)
        elif isinstance(event, yaml.ScalarEvent):
            finish(event.anchor, 1, len(event.value), mark)
        elif isinstance(event, yaml.AliasEvent):
            if event.anchor in open_anchors:
                raise YAMLTooBig(f"the alias *{event.anchor} refers to itself", mark)
            finish(None, *sizes.get(str(event.anchor), (1, 0)), mark)


def load_yaml(text: str) -> Any:
    """Parse one YAML document safely: bounded, libyaml when present, Python's messages on errors.

    Raises ``yaml.YAMLError``: :class:`YAMLTooBig` for a document nested deeper than
    :data:`MAX_YAML_DEPTH` or larger than :data:`MAX_YAML_NODES` nodes once its aliases are
    expanded (checked on the event stream first, so neither recursion nor a YAML bomb's
    expansion ever happens); otherwise the error of PyYAML's pure-Python parser, whose messages
    (``mapping values are not allowed here``) are the clearer ones.
    """
    try:
        _check_bounds(text, _FAST_LOADER)
        return yaml.load(text, Loader=_FAST_LOADER)
    except YAMLTooBig:
        raise
    except yaml.YAMLError:
        # libyaml gives up on its own limits (1,000 open brackets) before rayop's bound is
        # reached on the event stream; the pure-Python parser has none, so bound it again.
        _check_bounds(text, yaml.SafeLoader)
        return yaml.load(text, Loader=yaml.SafeLoader)


class ServeDeploymentSpec(WireModel):
    """One Serve deployment of a ``serveDeploymentGraphSpec`` (KubeRay's ``serveConfigs[]``)."""

    name: str = Field(description="Deployment name, as in the application's code.")
    num_replicas: int | None = Field(default=None, ge=0)
    max_ongoing_requests: int | None = Field(default=None, ge=1)
    max_concurrent_queries: int | None = Field(default=None, ge=1)
    user_config: Any = Field(default=None, description="User config: a mapping or YAML text.")
    autoscaling_config: Any = Field(default=None, description="A mapping or YAML text.")
    ray_actor_options: dict[str, Any] | None = Field(
        default=None, description="numCpus, numGpus, memory, resources, runtimeEnv..."
    )
    graceful_shutdown_wait_loop_s: Number | None = Field(default=None, ge=0)
    graceful_shutdown_timeout_s: Number | None = Field(default=None, ge=0)
    health_check_period_s: Number | None = Field(default=None, ge=0)
    health_check_timeout_s: Number | None = Field(default=None, ge=0)


class ServeDeploymentGraphSpec(WireModel):
    """A Serve application as a structured object; rayop turns it into one Serve application."""

    import_path: str = Field(description="`module:app` or `module.app` of the application.")
    name: str | None = Field(default=None, description="Application name (default `default`).")
    route_prefix: str | None = Field(default=None, description="HTTP route (default `/`).")
    runtime_env: str | None = Field(default=None, description="Runtime environment as YAML.")
    serve_configs: list[ServeDeploymentSpec] | None = Field(
        default=None, description="Per-deployment settings (KubeRay name: serveConfigs)."
    )


def yaml_error_text(error: yaml.YAMLError) -> str:
    """Return a one-line description of a YAML error: ``line 3: mapping values are not ...``."""
    mark = getattr(error, "problem_mark", None)
    problem = getattr(error, "problem", None) or str(error).splitlines()[0]
    if mark is not None:
        return f"line {mark.line + 1}: {problem}"
    return str(problem)


def parse_yaml_mapping(text: str | None) -> dict[str, Any]:
    """Parse YAML text that must hold a mapping (empty text is an empty mapping).

    Raises ``ValueError`` with a sentence a user can act on when it is not.
    """
    if text is None or not text.strip():
        return {}
    try:
        value = load_yaml(text)
    except YAMLTooBig as error:
        raise ValueError(f"refused: {yaml_error_text(error)}") from None
    except yaml.YAMLError as error:
        raise ValueError(f"not valid YAML: {yaml_error_text(error)}") from None
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ValueError(
            f"must be a YAML mapping (like `pip: [pandas]`), got {describe_value(value)}"
        )
    return value


def check_serve_config_text(text: str, *, field: str) -> list[Problem]:
    """Check a ``serveConfigV2`` string: YAML, then the Serve config shape.

    Results are cached by text: a reconciler checks the same config on every pass.
    """
    return list(_check_text(text, field))


@functools.lru_cache(maxsize=1024)
def _check_text(text: str, field: str) -> tuple[Problem, ...]:
    try:
        document = load_yaml(text)
    except yaml.YAMLError as error:
        return (Problem(field, f"not a Serve config: {yaml_error_text(error)}"),)
    return tuple(check_serve_config(document, field=field))


def check_serve_config(document: Any, *, field: str) -> list[Problem]:
    """Check a parsed Serve config: a mapping with ``applications``, each well formed."""
    if not isinstance(document, dict):
        hint = (
            " (Python code? This field holds Serve's YAML config)"
            if isinstance(document, str)
            else ""
        )
        return [
            Problem(
                field,
                f"not a Serve config: expected a YAML mapping with `applications:`, "
                f"got {describe_value(document)}{hint}",
            )
        ]
    apps = document.get("applications")
    if not isinstance(apps, list) or not apps:
        got = "nothing" if apps is None else describe_value(apps)
        return [
            Problem(
                field, f"not a Serve config: `applications` must be a non-empty list, got {got}"
            )
        ]
    problems: list[Problem] = []
    names: set[str] = set()
    routes: set[str] = set()
    for index, app in enumerate(apps):
        problems += [
            Problem(field, m) for m in _check_app(app, f"applications[{index}]", names, routes)
        ]
    return problems


def _check_app(app: Any, where: str, names: set[str], routes: set[str]) -> list[str]:
    if not isinstance(app, dict):
        return [f"{where}: must be a mapping with name and import_path, got {describe_value(app)}"]
    messages: list[str] = []
    name = app.get("name")
    if not isinstance(name, str) or not name:
        messages.append(f"{where}.name: required: every application needs a unique name")
    elif name in names:
        messages.append(f"{where}.name: duplicate application name {name!r}")
    else:
        names.add(name)
    messages += [f"{where}.import_path: {m}" for m in import_path_problems(app.get("import_path"))]
    route = app.get("route_prefix", "/")
    if route is not None:
        messages += [f"{where}.route_prefix: {m}" for m in route_prefix_problems(route, routes)]
    runtime_env = app.get("runtime_env")
    if runtime_env is not None and not isinstance(runtime_env, dict):
        messages.append(
            f"{where}.runtime_env: must be a mapping, got {describe_value(runtime_env)}"
        )
    messages += _check_deployments(app.get("deployments"), where)
    return messages


def import_path_problems(path: Any) -> list[str]:
    """Return what is wrong with a Serve ``import_path`` (nothing when it is well formed)."""
    if not isinstance(path, str) or not path:
        return ["required: the module and attribute of the application, like `fruit:deployment`"]
    if any(c.isspace() for c in path) or not ("." in path or ":" in path):
        return [f"{path!r} is not an import path; write `module:attribute` or `module.attribute`"]
    return []


def route_prefix_problems(route: Any, routes: set[str]) -> list[str]:
    """Return what is wrong with a ``route_prefix``; a good one is added to ``routes``."""
    if not isinstance(route, str) or not route.startswith("/"):
        return [f"{route!r} must be a string starting with '/'"]
    if route != "/" and route.endswith("/"):
        return [f"{route!r} must not end with '/' (only the root route may)"]
    if route in routes:
        return [f"duplicate route_prefix {route!r}: two applications cannot share a route"]
    routes.add(route)
    return []


def _check_deployments(deployments: Any, where: str) -> list[str]:
    if deployments is None:
        return []
    if not isinstance(deployments, list):
        return [f"{where}.deployments: must be a list, got {describe_value(deployments)}"]
    messages: list[str] = []
    seen: set[str] = set()
    for index, deployment in enumerate(deployments):
        here = f"{where}.deployments[{index}]"
        name = deployment.get("name") if isinstance(deployment, dict) else None
        if not isinstance(deployment, dict):
            messages.append(f"{here}: must be a mapping, got {describe_value(deployment)}")
        elif not isinstance(name, str) or not name:
            messages.append(f"{here}.name: required: the deployment's name in the code")
        elif name in seen:
            messages.append(f"{here}.name: duplicate deployment name {name!r}")
        else:
            seen.add(name)
    return messages


def graph_spec_to_serve_config(spec: ServeDeploymentGraphSpec) -> dict[str, Any]:
    """Turn a ``serveDeploymentGraphSpec`` into a Serve config holding one application.

    Raises ``ValueError`` when its YAML parts (``runtimeEnv``, string configs) do not parse;
    :func:`~rayop.ray.resources.validation.validate_rayservice` reports those first.
    """
    app: dict[str, Any] = {
        "name": spec.name or DEFAULT_APP_NAME,
        "route_prefix": spec.route_prefix or "/",
        "import_path": spec.import_path,
    }
    runtime_env = parse_yaml_mapping(spec.runtime_env)
    if runtime_env:
        app["runtime_env"] = runtime_env
    if spec.serve_configs:
        app["deployments"] = [_deployment(d) for d in spec.serve_configs]
    return {"applications": [app]}


def _deployment(spec: ServeDeploymentSpec) -> dict[str, Any]:
    wire = spec.model_dump(mode="json", by_alias=False, exclude_none=True)
    result: dict[str, Any] = {}
    for key, value in wire.items():
        snake = to_snake(key)
        if snake in ("user_config", "autoscaling_config") and isinstance(value, str):
            value = load_yaml(value) if value.strip() else None
        elif snake == "ray_actor_options" and isinstance(value, dict):
            value = {to_snake(k): v for k, v in value.items()}
        if value is not None:
            result[snake] = value
    return result
