"""What a RayService reads from Ray Serve, as pure functions of one cluster's answer.

A :class:`ServeView` is what one reconcile learned about one cluster's Serve: whether the cluster
is ready, and the dashboard's answer (or its error). Everything the reconciler decides from Serve —
resubmit the config, health, the ``ray.io/serve`` pod label, the status maps — is a function here.

Whether the cluster runs the desired config is read from Ray itself (each application's
``deployed_app_config``), never remembered by the operator: a restarted operator neither resubmits
an unchanged config nor misses a change, and a cluster that lost its applications (a new head
pod) is seen to need them again.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from rayop.ray.dashboard import (
    DeploymentDetails,
    ServeApplicationDetails,
    ServeApplicationStatus,
    ServeDetails,
)
from rayop.ray.resources.rayservice import DEPLOYMENT_STATUSES, RayServiceSpec
from rayop.ray.resources.validation import parse_rayservice
from rayop.runtime.client import Obj

__all__ = [
    "ServeView",
    "all_running",
    "app_health",
    "application_statuses",
    "can_serve",
    "config_matches",
    "deployment_statuses",
    "needs_apply",
    "parse_service",
    "serve_label",
    "unhealthy_reason",
]

_RUNNING = ServeApplicationStatus.RUNNING
_FAILED = (ServeApplicationStatus.UNHEALTHY, ServeApplicationStatus.DEPLOY_FAILED)


@dataclass(frozen=True)
class ServeView:
    """One cluster's Serve as one reconcile saw it."""

    cluster: str
    ready: bool
    details: ServeDetails | None = None
    error: str = ""

    def apps(self) -> dict[str, ServeApplicationDetails]:
        """The applications that exist (those being deleted left out)."""
        if self.details is None:
            return {}
        return {n: a for n, a in self.details.applications.items()
                if a.status != ServeApplicationStatus.DELETING}


def can_serve(cluster: Obj | None, *, whole: bool = False) -> bool:
    """True when the cluster's head pod is ready (``whole``: every pod, state ``ready``)."""
    status = (cluster or {}).get("status") or {}
    if status.get("state") == "ready":
        return True
    return not whole and any(c.get("type") == "HeadPodReady" and c.get("status") == "True"
                             for c in status.get("conditions") or [])


def _desired_apps(config: Mapping[str, Any]) -> dict[str, Mapping[str, Any]]:
    apps = config.get("applications") or []
    return {str(a.get("name", "default")): a for a in apps if isinstance(a, Mapping)}


def config_matches(desired: Any, deployed: Any) -> bool:
    """True when everything ``desired`` sets is in ``deployed`` (Ray may add defaults)."""
    if isinstance(desired, Mapping):
        return isinstance(deployed, Mapping) and all(
            k in deployed and config_matches(v, deployed[k]) for k, v in desired.items())
    if isinstance(desired, list):
        return (isinstance(deployed, list) and len(desired) == len(deployed)
                and all(config_matches(d, e) for d, e in zip(desired, deployed, strict=True)))
    return bool(desired == deployed)


def needs_apply(config: Mapping[str, Any], details: ServeDetails) -> bool:
    """True when the cluster does not run ``config``: an application missing, extra or changed."""
    want = _desired_apps(config)
    have = {n: a for n, a in details.applications.items()
            if a.status != ServeApplicationStatus.DELETING}
    if set(want) != set(have):
        return True
    return not all(config_matches(app, have[name].deployed_app_config)
                   for name, app in want.items())


def all_running(view: ServeView, config: Mapping[str, Any]) -> bool:
    """True when the cluster runs ``config`` and every application on it is RUNNING."""
    if not view.ready or view.details is None or needs_apply(config, view.details):
        return False
    apps = view.apps()
    return bool(apps) and all(a.status == _RUNNING for a in apps.values())


def _messages(apps: Mapping[str, ServeApplicationDetails], wanted: tuple[str, ...]) -> str:
    return "; ".join(f"{name}: {app.message or app.status.value}"
                     for name, app in sorted(apps.items()) if app.status.value in wanted)


def app_health(view: ServeView, *, active: bool) -> tuple[str, str]:
    """The seed's ``appStatus`` (status, message) of one cluster's applications.

    A pending cluster still coming up is DEPLOYING; the active one not ready or not answering is
    UNHEALTHY (nothing there can serve).
    """
    if not view.ready:
        state = "UNHEALTHY" if active else "DEPLOYING"
        return state, f"RayCluster {view.cluster} is not ready"
    if view.details is None:
        return "UNHEALTHY", f"the Ray dashboard of {view.cluster} did not answer: {view.error}"
    apps = view.apps()
    if not apps:
        return "DEPLOYING", "no Serve application is deployed yet"
    if any(a.status == ServeApplicationStatus.DEPLOY_FAILED for a in apps.values()):
        return "DEPLOY_FAILED", _messages(apps, ("DEPLOY_FAILED",))
    if any(a.status == ServeApplicationStatus.UNHEALTHY for a in apps.values()):
        return "UNHEALTHY", _messages(apps, ("UNHEALTHY",))
    if all(a.status == _RUNNING for a in apps.values()):
        return "HEALTHY", ""
    return "DEPLOYING", _messages(apps, ("DEPLOYING", "NOT_STARTED"))


def unhealthy_reason(view: ServeView) -> str | None:
    """Why the serving cluster counts as unhealthy (the thresholds' clock runs), or None."""
    if not view.ready:
        return f"RayCluster {view.cluster} is not ready"
    if view.details is None:
        return f"the Ray dashboard did not answer: {view.error}"
    apps = view.apps()
    bad = {n: a for n, a in apps.items() if a.status in _FAILED}
    if bad:
        return _messages(bad, ("UNHEALTHY", "DEPLOY_FAILED"))
    return None


def serve_label(view: ServeView) -> str | None:
    """The ``ray.io/serve`` label for the cluster's pods: "true", "false", or None (keep).

    Ray's API gives no per-node proxy state, so every pod of a cluster gets the same value:
    "true" when every application runs; "false" when nothing can serve (not ready, no
    application, an application unhealthy or failed); unchanged while applications deploy, so an
    in-place Serve update does not take the pods out of the Service, and unchanged while the
    dashboard does not answer: the dashboard (8265) failing says nothing about Serve's proxies
    (8000), and pulling every pod out of the Service on one failed read would stop traffic the
    proxies still serve (the unhealthy threshold still counts the silence).
    """
    if not view.ready:
        return "false"
    if view.details is None:
        return None
    apps = view.apps()
    if not apps or any(a.status in _FAILED for a in apps.values()):
        return "false"
    if all(a.status == _RUNNING for a in apps.values()):
        return "true"
    return None


def application_statuses(details: ServeDetails | None) -> dict[str, Obj]:
    """``applicationStatuses``: each application's status, message and deployments."""
    if details is None:
        return {}
    out: dict[str, Obj] = {}
    for name, app in sorted(details.applications.items()):
        entry: Obj = {"status": app.status.value, "message": app.message}
        entry["serveDeploymentStatuses"] = {
            d_name: _deployment(d) for d_name, d in sorted(app.deployments.items())
        }
        out[name] = entry
    return out


def deployment_statuses(details: ServeDetails | None) -> list[Obj]:
    """The seed's flat ``deploymentStatuses[]``: one entry per deployment of every application."""
    if details is None:
        return []
    return [
        {"application": app_name, "name": d_name, **_deployment(d)}
        for app_name, app in sorted(details.applications.items())
        for d_name, d in sorted(app.deployments.items())
    ]


def _deployment(deployment: DeploymentDetails) -> Obj:
    """A deployment's status and message; a state newer than rayop's schema goes in the message."""
    state = str(deployment.status)
    if state in DEPLOYMENT_STATUSES:
        return {"status": state, "message": deployment.message}
    return {"message": f"Ray reports {state}: {deployment.message}".rstrip(": ")}


def parse_service(svc: Obj) -> tuple[RayServiceSpec, Obj] | list[str]:
    """The spec and the Serve config to deploy, or every problem with them (field paths)."""
    parsed = parse_rayservice(svc)
    if isinstance(parsed, list):
        return [str(p) for p in parsed]
    spec = parsed.spec
    try:
        return spec, spec.serve_config()
    except ValueError as err:
        field_name = "serveConfigV2" if spec.serve_config_v2 is not None else \
            "serveDeploymentGraphSpec"
        return [f"spec.{field_name}: {err}"]
