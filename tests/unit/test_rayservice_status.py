"""Pure RayService status helpers: health, labels, the seed status, conditions, patches."""

from __future__ import annotations

from typing import Any

import pytest

from rayop.ray.dashboard import ServeDetails
from rayop.reconcilers.rayservice.metrics import RayServiceMetrics
from rayop.reconcilers.rayservice.serve import (
    ServeView,
    all_running,
    app_health,
    application_statuses,
    config_matches,
    deployment_statuses,
    needs_apply,
    serve_label,
    unhealthy_reason,
)
from rayop.reconcilers.rayservice.services import (
    build_head_service,
    build_serve_service,
    serve_service_name,
    service_update,
)
from rayop.reconcilers.rayservice.status import (
    cluster_entry,
    ready_condition,
    seed_status,
    service_status,
    upgrade_condition,
)
from rayop.runtime.status import merge_patch_between

APP_A = {"name": "a", "import_path": "fruit.graph", "route_prefix": "/a"}
APP_B = {"name": "b", "import_path": "calc.dag", "route_prefix": "/b",
         "deployments": [{"name": "Adder", "user_config": {"increment": 3}}]}
CONFIG = {"applications": [APP_A, APP_B]}


def _app(name: str, status: str, config: dict[str, Any] | None = None, message: str = "",
         deployments: dict[str, str] | None = None) -> dict[str, Any]:
    return {"name": name, "status": status, "message": message,
            "deployed_app_config": config,
            "deployments": {d: {"name": d, "status": s, "message": ""}
                            for d, s in (deployments or {}).items()}}


def _details(*apps: dict[str, Any]) -> ServeDetails:
    return ServeDetails.model_validate({"applications": {a["name"]: a for a in apps}})


def _view(*apps: dict[str, Any], ready: bool = True) -> ServeView:
    return ServeView("c1", ready, _details(*apps))


RUNNING = _view(_app("a", "RUNNING", APP_A), _app("b", "RUNNING", APP_B))


# -- what the cluster runs ----------------------------------------------------------------------

@pytest.mark.parametrize(("desired", "deployed", "matches"), [
    (APP_A, APP_A, True),
    (APP_A, {**APP_A, "runtime_env": {}, "args": {}}, True),          # Ray added defaults
    (APP_A, {**APP_A, "route_prefix": "/x"}, False),
    (APP_B, {**APP_B, "deployments": [{"name": "Adder", "user_config": {"increment": 4}}]},
     False),
    (APP_B, {**APP_B, "deployments": []}, False),
    (APP_A, None, False),
])
def test_config_matches(desired: Any, deployed: Any, matches: bool) -> None:
    assert config_matches(desired, deployed) is matches


@pytest.mark.parametrize(("apps", "apply"), [
    ((), True),                                                       # nothing deployed
    ((_app("a", "RUNNING", APP_A), _app("b", "RUNNING", APP_B)), False),
    ((_app("a", "DEPLOY_FAILED", APP_A), _app("b", "RUNNING", APP_B)), False),  # no retry loop
    ((_app("a", "RUNNING", APP_A),), True),                           # one missing
    ((_app("a", "RUNNING", APP_A), _app("b", "RUNNING", APP_B), _app("c", "RUNNING", {})), True),
    ((_app("a", "RUNNING", APP_A), _app("b", "RUNNING", APP_B), _app("c", "DELETING", {})),
     False),                                                          # leaving already
    ((_app("a", "RUNNING", {**APP_A, "import_path": "old.graph"}), _app("b", "RUNNING", APP_B)),
     True),
])
def test_needs_apply(apps: tuple[dict[str, Any], ...], apply: bool) -> None:
    assert needs_apply(CONFIG, _details(*apps)) is apply


@pytest.mark.parametrize(("view", "running"), [
    (RUNNING, True),
    (_view(_app("a", "RUNNING", APP_A), _app("b", "DEPLOYING", APP_B)), False),
    (_view(_app("a", "RUNNING", APP_A)), False),
    (_view(_app("a", "RUNNING", APP_A), _app("b", "RUNNING", APP_B), ready=False), False),
    (ServeView("c1", True, None, "refused"), False),
    (_view(_app("a", "RUNNING", APP_A), _app("b", "RUNNING", {**APP_B, "route_prefix": "/z"})),
     False),
])
def test_all_running(view: ServeView, running: bool) -> None:
    assert all_running(view, CONFIG) is running


# -- health -------------------------------------------------------------------------------------

@pytest.mark.parametrize(("view", "active", "health", "message_has"), [
    (RUNNING, True, "HEALTHY", ""),
    (_view(_app("a", "DEPLOYING"), _app("b", "RUNNING")), True, "DEPLOYING", "a: DEPLOYING"),
    (_view(_app("a", "UNHEALTHY", message="probe"), _app("b", "RUNNING")), True, "UNHEALTHY",
     "a: probe"),
    (_view(_app("a", "DEPLOY_FAILED", message="no module"), _app("b", "UNHEALTHY")), True,
     "DEPLOY_FAILED", "a: no module"),
    (_view(), True, "DEPLOYING", "no Serve application"),
    (_view(_app("a", "DELETING")), True, "DEPLOYING", "no Serve application"),
    (ServeView("c1", False), True, "UNHEALTHY", "not ready"),
    (ServeView("c1", False), False, "DEPLOYING", "not ready"),
    (ServeView("c1", True, None, "refused"), True, "UNHEALTHY", "refused"),
])
def test_app_health(view: ServeView, active: bool, health: str, message_has: str) -> None:
    got, message = app_health(view, active=active)
    assert got == health
    assert message_has in message


@pytest.mark.parametrize(("view", "unhealthy"), [
    (RUNNING, False),
    (_view(_app("a", "DEPLOYING")), False),
    (_view(), False),                                   # resubmitted, coming back
    (_view(_app("a", "UNHEALTHY"), _app("b", "RUNNING")), True),
    (_view(_app("a", "DEPLOY_FAILED")), True),
    (ServeView("c1", False), True),
    (ServeView("c1", True, None, "refused"), True),
])
def test_unhealthy_reason(view: ServeView, unhealthy: bool) -> None:
    assert (unhealthy_reason(view) is not None) is unhealthy


@pytest.mark.parametrize(("view", "label"), [
    (RUNNING, "true"),
    (_view(_app("a", "DEPLOYING"), _app("b", "RUNNING")), None),      # in-place update: keep
    (_view(_app("a", "UNHEALTHY"), _app("b", "RUNNING")), "false"),
    (_view(_app("a", "DEPLOY_FAILED")), "false"),
    (_view(), "false"),
    (ServeView("c1", False), "false"),
    (ServeView("c1", True, None, "refused"), None),    # dashboard silent: proxies may serve
])
def test_serve_label(view: ServeView, label: str | None) -> None:
    assert serve_label(view) == label


def test_application_and_deployment_statuses() -> None:
    details = _details(_app("b", "RUNNING", deployments={"Adder": "HEALTHY", "Router": "WHATEVER"}),
                       _app("a", "DEPLOYING", deployments={"Stand": "UPDATING"}))
    apps = application_statuses(details)
    assert list(apps) == ["a", "b"]
    assert apps["b"]["serveDeploymentStatuses"]["Adder"] == {"status": "HEALTHY", "message": ""}
    assert "status" not in apps["b"]["serveDeploymentStatuses"]["Router"]  # unknown to the CRD
    assert "WHATEVER" in apps["b"]["serveDeploymentStatuses"]["Router"]["message"]
    flat = deployment_statuses(details)
    assert [(d["application"], d["name"]) for d in flat] == [
        ("a", "Stand"), ("b", "Adder"), ("b", "Router")]
    assert application_statuses(None) == {} and deployment_statuses(None) == []


# -- the seed status and conditions -------------------------------------------------------------

@pytest.mark.parametrize(("kwargs", "seed"), [
    ({"serving": False, "health": "HEALTHY"}, "DEPLOYING"),
    ({"serving": False, "health": "DEPLOY_FAILED"}, "DEPLOYING"),
    ({"serving": True, "health": "HEALTHY"}, "RUNNING"),
    ({"serving": True, "health": "DEPLOYING", "endpoints": 2}, "RUNNING"),   # in-place update
    ({"serving": True, "health": "DEPLOYING", "endpoints": 0}, "UNHEALTHY"),  # head pod lost
    ({"serving": True, "health": "UNHEALTHY"}, "UNHEALTHY"),
    ({"serving": True, "health": "DEPLOY_FAILED"}, "UNHEALTHY"),
    ({"serving": True, "health": "HEALTHY", "failed": True}, "FAILED"),
    ({"serving": True, "health": "HEALTHY", "suspended": True}, "SUSPENDED"),
])
def test_seed_status(kwargs: dict[str, Any], seed: str) -> None:
    args: dict[str, Any] = {"failed": False, "suspended": False, "endpoints": 1, **kwargs}
    assert seed_status(**args) == seed


@pytest.mark.parametrize(("seed", "ready", "reason", "service"), [
    ("RUNNING", True, "Serving", "Running"),
    ("DEPLOYING", False, "Deploying", ""),
    ("UNHEALTHY", False, "Unhealthy", ""),
    ("SUSPENDED", False, "Suspended", ""),
    ("FAILED", False, "Why", ""),
])
def test_ready_condition_and_service_status(seed: str, ready: bool, reason: str,
                                            service: str) -> None:
    got = ready_condition(seed, reason="Why", message="m")
    assert (got.type, got.status, got.reason) == ("Ready", ready, reason)
    assert service_status(seed) == service


def test_cluster_entry() -> None:
    assert cluster_entry("", {}) is None
    assert cluster_entry("c1", {"a": {"status": "RUNNING"}}) == {
        "rayClusterName": "c1", "applicationStatuses": {"a": {"status": "RUNNING"}}}


@pytest.mark.parametrize(("old", "new", "patch"), [
    ({"a": 1}, {"a": 1}, {}),
    ({"a": 1}, {"a": 2}, {"a": 2}),
    ({"a": 1, "b": 2}, {"a": 1}, {"b": None}),
    ({"a": 1}, {"a": None}, {"a": None}),
    ({}, {"a": None}, {}),
    ({"m": {"x": 1, "y": 2}}, {"m": {"x": 1}}, {"m": {"y": None}}),       # app gone from a map
    ({"m": {"x": {"s": 1}}}, {"m": {"x": {"s": 2}}}, {"m": {"x": {"s": 2}}}),
    ({"l": [1, 2]}, {"l": [1]}, {"l": [1]}),                              # lists are replaced
    (None, {"a": {"b": 1}}, {"a": {"b": 1}}),
])
def test_merge_patch_between(old: dict[str, Any] | None, new: dict[str, Any],
                     patch: dict[str, Any]) -> None:
    assert merge_patch_between(old, new) == patch


# -- Services -------------------------------------------------------------------------------------

SVC: dict[str, Any] = {"apiVersion": "ray.io/v1", "kind": "RayService",
       "metadata": {"name": "demo", "namespace": "ns", "uid": "u-1"},
       "spec": {"rayClusterConfig": {"headGroupSpec": {"template": {"spec": {"containers": [
           {"name": "ray-head", "ports": [{"name": "dashboard", "containerPort": 9999}]}]}}}}}}


def test_head_service_selects_the_active_head_with_named_ports() -> None:
    cluster = {"metadata": {"name": "demo-abcde"}, "spec": SVC["spec"]["rayClusterConfig"]}
    svc = build_head_service(SVC, cluster)
    assert svc["metadata"]["name"] == "demo-head-svc"
    assert svc["spec"]["selector"] == {"ray.io/cluster": "demo-abcde", "ray.io/node-type": "head"}
    ports = {p["name"]: p["port"] for p in svc["spec"]["ports"]}
    assert ports == {"dashboard": 9999, "gcs-server": 6379, "client": 10001, "serve": 8000}
    assert svc["metadata"]["ownerReferences"][0]["uid"] == "u-1"


def test_serve_service_defaults_and_the_users_fields() -> None:
    svc = build_serve_service(SVC, "demo-abcde")
    assert svc["metadata"]["name"] == "demo-serve-svc"
    assert svc["spec"]["selector"] == {"ray.io/cluster": "demo-abcde", "ray.io/serve": "true"}
    assert svc["spec"]["ports"][0]["port"] == 8000
    user = {**SVC, "spec": {**SVC["spec"], "serveService": {
        "metadata": {"name": "custom", "labels": {"team": "x"}},
        "spec": {"type": "NodePort", "selector": {"ignored": "yes"},
                 "ports": [{"name": "http", "port": 80, "targetPort": 8000}]}}}}
    custom = build_serve_service(user, "demo-abcde")
    assert serve_service_name(user) == custom["metadata"]["name"] == "custom"
    assert custom["metadata"]["labels"]["team"] == "x"
    assert custom["spec"]["type"] == "NodePort"
    assert custom["spec"]["selector"] == {"ray.io/cluster": "demo-abcde", "ray.io/serve": "true"}


def test_service_update_only_when_something_differs() -> None:
    desired = build_serve_service(SVC, "demo-new")
    current = build_serve_service(SVC, "demo-old")
    current["metadata"]["resourceVersion"] = "7"
    current["spec"]["clusterIP"] = "10.0.0.9"
    body = service_update(current, desired)
    assert body is not None
    assert body["spec"]["selector"]["ray.io/cluster"] == "demo-new"
    assert body["spec"]["clusterIP"] == "10.0.0.9"
    assert body["metadata"]["resourceVersion"] == "7"
    assert service_update(body, desired) is None


@pytest.mark.parametrize(("active", "pending", "hold", "state", "reason"), [
    ("old", "new", False, True, "PendingClusterPreparing"),
    ("", "first", False, False, "FirstClusterPreparing"),
    ("old", "", False, False, "NoPendingCluster"),
    ("old", "", True, False, "UpgradeStrategyNone"),
])
def test_upgrade_condition(active: str, pending: str, hold: bool, state: bool,
                           reason: str) -> None:
    _, got_state, got_reason, _ = upgrade_condition(active, pending, hold=hold)
    assert (got_state, got_reason) == (state, reason)


def test_metrics_readiness_upgrades_and_time_to_ready() -> None:
    metrics = RayServiceMetrics()
    registry = metrics.registry
    metrics.observe_status("ns", "a", before=None, after="DEPLOYING", since_start=1.0)
    assert registry.get_sample_value("rayop_rayservice_ready", {"namespace": "ns",
                                                                "name": "a"}) == 0.0
    metrics.observe_status("ns", "a", before="DEPLOYING", after="RUNNING", since_start=42.0)
    metrics.observe_status("ns", "a", before="UNHEALTHY", after="RUNNING", since_start=99.0)
    assert registry.get_sample_value("rayop_rayservice_ready", {"namespace": "ns",
                                                                "name": "a"}) == 1.0
    assert registry.get_sample_value("rayop_rayservice_time_to_ready_seconds_count") == 1.0
    assert registry.get_sample_value("rayop_rayservice_time_to_ready_seconds_sum") == 42.0
    metrics.upgraded("ns", "upgrade")
    assert registry.get_sample_value("rayop_rayservice_upgrades_total",
                                     {"namespace": "ns", "kind": "upgrade"}) == 1.0
    metrics.forget("ns", "a")
    metrics.forget("ns", "a")
    assert registry.get_sample_value("rayop_rayservice_ready", {"namespace": "ns",
                                                                "name": "a"}) is None
