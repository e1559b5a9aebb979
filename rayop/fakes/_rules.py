"""Pure metadata rules of the API server: what create and update keep, drop, bump and refuse."""

from __future__ import annotations

import re
from typing import Any

from rayop.runtime.client import Kind, Obj
from rayop.runtime.errors import BadRequest, Cause, Invalid

_SUBDOMAIN = r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*"
_LABEL = r"[a-z0-9]([-a-z0-9]*[a-z0-9])?"
_QUALIFIED = r"([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]"
_LABEL_VALUE = r"(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?"
_NAME_RULES: dict[str, tuple[str, int, str]] = {
    # kind plural -> (regex, max length, Kubernetes' message before the regex)
    "": (_SUBDOMAIN, 253, "a lowercase RFC 1123 subdomain must consist of lower case "
         "alphanumeric characters, '-' or '.', and must start and end with an alphanumeric "
         "character (e.g. 'example.com', "),
    "namespaces": (_LABEL, 63, "a lowercase RFC 1123 label must consist of lower case "
                   "alphanumeric characters or '-', and must start and end with an alphanumeric "
                   "character (e.g. 'my-name',  or '123-abc', "),
}
# Services: kube-apiserver 1.36 takes RFC 1123 labels (RelaxedServiceNameValidation, on by
# default), no longer only DNS-1035 ones ("1svc" is accepted).
_NAME_RULES["services"] = _NAME_RULES["namespaces"]
_QUALIFIED_MESSAGE = (
    "name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end "
    "with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for "
    f"validation is '{_QUALIFIED}')"
)
_LABEL_VALUE_MESSAGE = (
    "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or "
    "'.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or "
    f"'my_value',  or '12345', regex used for validation is '{_LABEL_VALUE}')"
)
_ANNOTATIONS_MAX = 256 * 1024
_POD_MUTABLE = ("activeDeadlineSeconds", "tolerations", "terminationGracePeriodSeconds")
_POD_SPEC_FORBIDDEN = (
    "Forbidden: pod updates may not change fields other than `spec.containers[*].image`,"
    "`spec.initContainers[*].image`,`spec.activeDeadlineSeconds`,`spec.tolerations` (only "
    "additions to existing tolerations),`spec.terminationGracePeriodSeconds` (allow it to be set "
    "to 1 if it was previously negative)"
)
GENERATE_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"
"""The characters Kubernetes draws generated name suffixes from (no vowels, no look-alikes)."""

_SERVER_FIELDS = ("uid", "creationTimestamp", "deletionTimestamp", "deletionGracePeriodSeconds")


def body_of(obj: Any, kind: Kind, *, builtin: bool = True) -> Obj:
    """Check the request body's shape; return it (the caller passes a private copy).

    A body of another API version is a ``BadRequest``; of another kind, a ``BadRequest`` for a
    built-in kind (it cannot be converted) and an ``Invalid`` naming ``kind`` for a custom
    resource, as the real server answers.
    """
    if not isinstance(obj, dict):
        raise BadRequest(f"the body of a {kind} request must be a JSON object")
    if not isinstance(obj.get("metadata", {}), dict):
        raise BadRequest("metadata must be a JSON object")
    version = obj.get("apiVersion")
    if version not in (None, "", kind.api_version):
        raise BadRequest(f"the API version in the data ({version}) does not match the expected "
                         f"API version ({kind.api_version})")
    given = obj.get("kind")
    if given not in (None, "", kind.kind):
        if builtin:
            internal = kind.group.split(".")[0] if kind.group else "core"
            raise BadRequest(
                f'{given} in version "{kind.version}" cannot be handled as a {kind.kind}: '
                f"converting ({kind.version}.{given}) to ({internal}.{kind.kind}): "
                "unknown conversion"
            )
        name = str((obj.get("metadata") or {}).get("name") or "")
        other = Kind(kind.group, kind.version, str(given), kind.plural, kind.namespaced)
        raise Invalid(
            f'{other.group_kind} "{name}" is invalid: kind: Invalid value: "{given}": '
            f"must be {kind.kind}",
            kind=str(given), group=kind.group, name=name,
            causes=[Cause("kind", f'Invalid value: "{given}": must be {kind.kind}')],
        )
    rest = {k: v for k, v in obj.items() if k not in ("apiVersion", "kind", "metadata")}
    return {"apiVersion": kind.api_version, "kind": kind.kind,
            "metadata": obj.get("metadata") or {}, **rest}


def namespace_of(kind: Kind, meta: dict[str, Any], namespace: str | None) -> str:
    """Return the namespace a request acts in ("" for cluster-scoped kinds), as a server does."""
    if not kind.namespaced:
        meta.pop("namespace", None)
        return ""
    given = meta.get("namespace")
    if given and namespace and given != namespace:
        raise BadRequest(
            "the namespace of the provided object does not match the namespace sent on the request"
        )
    ns = given or namespace
    if not ns:
        raise BadRequest(f"{kind} is namespaced: a namespace is required")
    meta["namespace"] = ns
    return str(ns)


def _name_rule_key(kind: Kind) -> str:
    """The key of ``kind``'s rule in ``_NAME_RULES``: its plural for a core kind with its own."""
    return kind.plural if kind.plural in _NAME_RULES and not kind.group else ""


def name_causes(kind: Kind, name: str, *, field: str = "metadata.name") -> list[Cause]:
    """Return what is wrong with ``name`` for this kind, in the API server's words.

    Most kinds take a DNS subdomain; namespaces and Services an RFC 1123 label.
    """
    key = _name_rule_key(kind)
    pattern, limit, message = _NAME_RULES[key]
    causes = []
    if len(name) > limit:
        causes.append(Cause(field, f'Invalid value: "{name}": must be no more than {limit} '
                                   "characters"))
    if key == "services" and "." in name:
        causes.append(Cause(field, f'Invalid value: "{name}": must not contain dots'))
    elif not re.fullmatch(pattern, name):
        causes.append(Cause(field, f'Invalid value: "{name}": {message}regex used for '
                                   f"validation is '{pattern}')"))
    return causes


def generate_name_causes(kind: Kind, prefix: str) -> list[Cause]:
    """What is wrong with a ``generateName`` prefix (checked as a name, less its trailing '-')."""
    pattern, _, message = _NAME_RULES[_name_rule_key(kind)]
    if re.fullmatch(pattern, prefix.rstrip("-") or "a"):
        return []
    return [Cause("metadata.generateName", f'Invalid value: "{prefix}": {message}regex used '
                  f"for validation is '{pattern}')")]


def _qualified_name_problems(key: str) -> list[str]:
    parts = key.split("/")
    if len(parts) > 2:
        return [_QUALIFIED_MESSAGE.replace("name part must", "a qualified name must", 1)
                + " with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')"]
    problems = []
    if len(parts) == 2:
        prefix = parts[0]
        if not prefix:
            problems.append("prefix part must be non-empty")
        elif len(prefix) > 253 or not re.fullmatch(_SUBDOMAIN, prefix):
            problems.append("prefix part " + _NAME_RULES[""][2]
                            + f"regex used for validation is '{_SUBDOMAIN}')")
    name = parts[-1]
    if not name:
        problems.append("name part must be non-empty")
    elif len(name) > 63:
        problems.append("name part must be no more than 63 characters")
    if name and not re.fullmatch(_QUALIFIED, name):
        problems.append(_QUALIFIED_MESSAGE)
    return problems


def metadata_causes(meta: dict[str, Any]) -> list[Cause]:
    """Refuse label keys and values, and annotation keys, the API server refuses."""
    causes = []
    labels = meta.get("labels") or {}
    for key, value in labels.items() if isinstance(labels, dict) else ():
        causes += [Cause("metadata.labels", f'Invalid value: "{key}": {p}')
                   for p in _qualified_name_problems(str(key))]
        text = "" if value is None else str(value)
        if len(text) > 63:
            causes.append(Cause("metadata.labels",
                                f'Invalid value: "{text}": must be no more than 63 bytes'))
        if not re.fullmatch(_LABEL_VALUE, text):
            causes.append(Cause("metadata.labels", f'Invalid value: "{text}": '
                                                   f"{_LABEL_VALUE_MESSAGE}"))
    annotations = meta.get("annotations") or {}
    size = 0
    for key, value in annotations.items() if isinstance(annotations, dict) else ():
        causes += [Cause("metadata.annotations", f'Invalid value: "{key}": {p}')
                   for p in _qualified_name_problems(str(key).lower())]
        size += len(str(key)) + len(str(value or ""))
    if size > _ANNOTATIONS_MAX:
        causes.append(Cause("metadata.annotations",
                            f"Too long: must have at most {_ANNOTATIONS_MAX} bytes",
                            "FieldValueTooLong"))
    return causes


def builtin_causes(kind: Kind, obj: Obj, old: Obj | None) -> list[Cause]:
    """Return the causes of the few built-in kind checks the fake makes.

    A Pod needs containers with a name and an image, and an update may change only what the
    API server lets change in a pod's spec (images, deadlines, tolerations).
    """
    if kind.group or kind.plural != "pods":
        return []
    raw = obj.get("spec")
    spec: dict[str, Any] = raw if isinstance(raw, dict) else {}
    containers = spec.get("containers")
    causes = []
    if not containers:
        causes.append(Cause("spec.containers", "Required value", "FieldValueRequired"))
    for i, container in enumerate(containers if isinstance(containers, list) else []):
        for key in ("name", "image"):
            if not isinstance(container, dict) or not container.get(key):
                causes.append(Cause(f"spec.containers[{i}].{key}", "Required value",
                                    "FieldValueRequired"))
    if old is not None and _pod_spec_fixed(spec) != _pod_spec_fixed(old.get("spec") or {}):
        causes.append(Cause("spec", _POD_SPEC_FORBIDDEN, "FieldValueForbidden"))
    return causes


def _pod_spec_fixed(spec: dict[str, Any]) -> dict[str, Any]:
    """The part of a pod's spec no update may change."""
    fixed = {k: v for k, v in spec.items() if k not in _POD_MUTABLE}
    for key in ("containers", "initContainers"):
        if isinstance(fixed.get(key), list):
            fixed[key] = [{k: v for k, v in c.items() if k != "image"} if isinstance(c, dict)
                          else c for c in fixed[key]]
    return fixed


def owner_ref_causes(meta: dict[str, Any]) -> list[Cause]:
    """Return what is wrong with ``metadata.ownerReferences``, in the API server's words."""
    causes: list[Cause] = []
    refs = meta.get("ownerReferences") or []
    for ref in refs:
        ref = ref if isinstance(ref, dict) else {}
        api_version = str(ref.get("apiVersion") or "")
        if not api_version.rsplit("/", 1)[-1]:
            causes.append(Cause("metadata.ownerReferences.apiVersion",
                                f'Invalid value: "{api_version}": version must not be empty'))
        for key in ("kind", "name"):
            if not ref.get(key):
                causes.append(Cause(f"metadata.ownerReferences.{key}",
                                    f'Invalid value: "": {key} must not be empty'))
        if not ref.get("uid"):
            causes.append(Cause("metadata.ownerReferences.uid",
                                'Invalid value: "": must not be empty'))
    controllers = [r for r in refs if isinstance(r, dict) and r.get("controller")]
    if len(controllers) > 1:
        causes.append(Cause("metadata.ownerReferences", "Invalid value: only one reference can "
                            'have Controller set to true. Found "true" in references for '
                            + " and ".join(f"{r.get('kind')}/{r.get('name')}"
                                           for r in controllers)))
    return causes


def spec_part(obj: Obj, status_subresource: bool) -> dict[str, Any]:
    """Return what counts as spec for ``generation``: all but metadata (and status)."""
    skip = ("metadata", "status", "apiVersion", "kind") if status_subresource else (
        "metadata", "apiVersion", "kind")
    return {k: v for k, v in obj.items() if k not in skip}


def immutable_causes(old: dict[str, Any], new: dict[str, Any]) -> list[Cause]:
    """Refuse a change of uid (a missing one keeps the stored one).

    A changed creationTimestamp is no error: the stored one is kept, as the API server does.
    """
    if new.get("uid") not in (None, "", old.get("uid")):
        return [Cause("metadata.uid", f'Invalid value: "{new["uid"]}": field is immutable')]
    return []


def finalizer_causes(old: dict[str, Any], new: dict[str, Any]) -> list[Cause]:
    """Once deletion started, no finalizer may be added."""
    if not old.get("deletionTimestamp"):
        return []
    added = [f for f in new.get("finalizers") or [] if f not in (old.get("finalizers") or [])]
    if not added:
        return []
    return [Cause("metadata.finalizers", "Forbidden: no new finalizers can be added if the "
                  f"object is being deleted, found new finalizers {added}", "FieldValueForbidden")]


def updated(
    old: Obj, body: Obj, *, status: bool, status_subresource: bool, generation: bool = True
) -> Obj:
    """Return the object an update stores, before versioning: server fields kept from ``old``.

    A main-resource update keeps the stored status (when the kind has a status subresource); a
    status update keeps everything but the status.
    """
    if status:
        new = dict(old)
        new["metadata"] = dict(old["metadata"])
        if "status" in body:
            new["status"] = body["status"]
        else:
            new.pop("status", None)
        return new
    new = dict(body)
    meta = dict(body["metadata"])
    old_meta = old["metadata"]
    for key in (*_SERVER_FIELDS, "generation"):
        if key in old_meta:
            meta[key] = old_meta[key]
        else:
            meta.pop(key, None)
    new["metadata"] = meta
    if status_subresource:
        if "status" in old:
            new["status"] = old["status"]
        else:
            new.pop("status", None)
    if generation and spec_part(new, status_subresource) != spec_part(old, status_subresource):
        meta["generation"] = int(old_meta.get("generation") or 0) + 1
    return new


def same_content(a: Obj, b: Obj) -> bool:
    """Return whether two objects differ only in resourceVersion (a no-op write)."""
    if {k: v for k, v in a.items() if k != "metadata"} != {
        k: v for k, v in b.items() if k != "metadata"
    }:
        return False
    strip = ("resourceVersion", "managedFields")
    ma = {k: v for k, v in a["metadata"].items() if k not in strip}
    mb = {k: v for k, v in b["metadata"].items() if k not in strip}
    return ma == mb
