"""`rayop manifests`: valid against Kubernetes' schemas offline, hardened, and kept in deploy/."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from rayop.cli.main import main
from rayop.operator.manifests import ManifestOptions, build_manifests
from rayop.ray.crds import generate_crds

ROOT = Path(__file__).resolve().parents[2]
K8S_VERSION = "1.30.0"  # the oldest Kubernetes the manifests target; 1.37 checked too
VARIANTS = {
    "all-namespaces": ManifestOptions(),
    "namespaced": ManifestOptions(watch_namespaces=("team-a", "team-b"), selector="owner=rayop"),
    "proxy-no-leader": ManifestOptions(dashboard_access="proxy", leader_elect=False, replicas=2),
}


def by_kind(objects: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [o for o in objects if o["kind"] == kind]


@pytest.mark.parametrize("version", [K8S_VERSION, kubernetes_validate.latest_version()])
@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_every_object_validates_strictly(variant: str, version: str) -> None:
    objects = build_manifests(VARIANTS[variant])
    for obj in objects:
        kubernetes_validate.validate(obj, version, strict=True)  # raises on any problem


def test_a_broken_object_is_caught_by_the_same_check() -> None:
    deployment = by_kind(build_manifests(), "Deployment")[0]
    deployment["spec"]["template"]["spec"]["containers"][0]["readinessProbe"]["httpGet"][
        "portt"] = 1
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(deployment, K8S_VERSION, strict=True)


def test_crds_validate_too() -> None:
    for crd in generate_crds():
        kubernetes_validate.validate(crd, K8S_VERSION, strict=True)


def test_deployment_is_hardened_and_probed() -> None:
    deployment = by_kind(build_manifests(), "Deployment")[0]
    pod = deployment["spec"]["template"]["spec"]
    container = pod["containers"][0]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert container["securityContext"]["allowPrivilegeEscalation"] is False
    assert container["securityContext"]["capabilities"] == {"drop": ["ALL"]}
    assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": 8081}
    assert container["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": 8081}
    assert set(container["resources"]["requests"]) == {"cpu", "memory"}
    assert pod["serviceAccountName"] == "rayop"
    assert pod["terminationGracePeriodSeconds"] > 30  # longer than the graceful shutdown
    assert {"name": "tmp", "mountPath": "/tmp"} in container["volumeMounts"]
    args = container["args"]
    assert args[0] == "run" and "--leader-elect" in args
    assert "--metrics-bind-address=:8080" in args and "--health-probe-bind-address=:8081" in args


def test_the_deployment_args_are_what_rayop_run_accepts() -> None:
    from rayop.cli.main import build_parser
    from rayop.cli.run import resolve_flags

    for opts in VARIANTS.values():
        container = by_kind(build_manifests(opts), "Deployment")[0]["spec"]["template"]["spec"][
            "containers"][0]
        args = resolve_flags(build_parser().parse_args(container["args"]), {})
        assert args.namespace == list(opts.watch_namespaces)
        assert args.leader_elect is opts.leader_elect
        assert args.dashboard_access == opts.dashboard_access
        assert args.selector == opts.selector


def test_metrics_service_selects_the_operator_pods() -> None:
    objects = build_manifests()
    service = next(o for o in by_kind(objects, "Service") if o["metadata"]["name"].endswith(
        "metrics"))
    labels = by_kind(objects, "Deployment")[0]["spec"]["template"]["metadata"]["labels"]
    assert service["spec"]["selector"].items() <= labels.items()
    assert service["spec"]["ports"][0]["targetPort"] == "metrics"


def test_proxy_access_adds_service_proxy_and_only_then() -> None:
    def resources(opts: ManifestOptions) -> set[str]:
        role = by_kind(build_manifests(opts), "ClusterRole")[0]
        return {r for rule in role["rules"] for r in rule["resources"]}

    assert "services/proxy" not in resources(ManifestOptions())
    assert "services/proxy" in resources(ManifestOptions(dashboard_access="proxy"))


@pytest.mark.parametrize(("path", "argv"), [
    ("deploy/operator.yaml", []),
    ("deploy/operator-namespaced.yaml", ["--namespace", "team-a", "--namespace", "team-b"]),
])
def test_deploy_files_are_what_the_command_prints(
    path: str, argv: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["manifests", *argv]) == 0
    printed = capsys.readouterr().out
    assert (ROOT / path).read_text() == printed, f"regenerate: rayop manifests {' '.join(argv)}"
    assert [d["kind"] for d in yaml.safe_load_all(printed)][:2] == ["Namespace", "ServiceAccount"]


def test_crds_flag_puts_the_crds_first(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["manifests", "--crds"]) == 0
    kinds = [d["kind"] for d in yaml.safe_load_all(capsys.readouterr().out)]
    assert kinds[:3] == ["CustomResourceDefinition"] * 3 and "Deployment" in kinds


def test_dockerfile_matches_the_manifests() -> None:
    text = (ROOT / "Dockerfile").read_text()
    container = by_kind(build_manifests(), "Deployment")[0]["spec"]["template"]["spec"]
    user = container["securityContext"]["runAsUser"]
    assert f"USER {user}:{user}" in text  # non-root, the uid the Deployment asks for
    assert "EXPOSE 8080 8081" in text
    assert 'ENTRYPOINT ["rayop"]' in text  # the Deployment's args start with the subcommand
    for line in text.splitlines():
        if line.startswith("COPY ") and "--from" not in line:
            for source in line.split()[1:-1]:
                assert (ROOT / source).exists(), source
