"""`rayop run` flags: kubebuilder's names, RAYOP_* equivalents, the flag wins, bad values named."""

from __future__ import annotations

import argparse

import pytest

from rayop.cli.main import build_parser
from rayop.cli.run import COMMON_FLAGS, RUN_FLAGS, env_name, manager_options, resolve_flags

ISSUE_FLAGS = [
    "--kubeconfig", "--context", "--namespace", "--selector", "--controllers",
    "--max-concurrent-reconciles", "--metrics-bind-address", "--health-probe-bind-address",
    "--leader-elect", "--leader-election-id", "--leader-election-namespace", "--log-format",
    "--log-level", "--dashboard-access",
]


def parse(*argv: str, env: dict[str, str] | None = None,
          command: str = "run") -> argparse.Namespace:
    args = build_parser().parse_args([command, *argv])
    return resolve_flags(args, env or {})


def test_every_flag_of_the_issue_exists_with_its_env_name() -> None:
    names = {f.name: f.env for f in (*RUN_FLAGS, *COMMON_FLAGS)}
    for flag in ISSUE_FLAGS:
        assert flag in names, flag
        assert names[flag] == "RAYOP_" + flag[2:].upper().replace("-", "_")
    help_text = build_parser()._subparsers._group_actions[0].choices["run"].format_help()  # type: ignore[union-attr]
    for flag in ISSUE_FLAGS:
        assert flag in help_text and env_name(flag) in help_text


def test_defaults_are_kubebuilders() -> None:
    args = parse()
    assert args.namespace == [] and args.selector is None
    assert args.controllers == ["raycluster", "rayjob", "rayservice"]
    assert args.max_concurrent_reconciles == 1
    assert args.metrics_bind_address == ":8080" and args.health_probe_bind_address == ":8081"
    assert args.leader_elect is False and args.leader_election_id == "rayop-leader"
    assert args.log_format == "console" and args.log_level == "info"
    assert args.dashboard_access == "direct" and args.graceful_shutdown_timeout == 30.0
    options = manager_options(args)
    assert options.leader_election is None and options.namespaces == ()


def test_env_fills_what_the_command_line_does_not_give() -> None:
    args = parse(env={
        "RAYOP_NAMESPACE": "team-a, team-b", "RAYOP_SELECTOR": "owner=rayop",
        "RAYOP_LEADER_ELECT": "true", "RAYOP_LEADER_ELECTION_NAMESPACE": "ops",
        "RAYOP_MAX_CONCURRENT_RECONCILES": "4", "RAYOP_LOG_FORMAT": "json",
        "RAYOP_CONTROLLERS": "rayjob", "RAYOP_KUBECONFIG": "/k/config",
        "RAYOP_DASHBOARD_ACCESS": "proxy", "RAYOP_METRICS_BIND_ADDRESS": "127.0.0.1:9090",
    })
    assert args.namespace == ["team-a", "team-b"] and args.selector == "owner=rayop"
    assert args.leader_elect is True and args.max_concurrent_reconciles == 4
    assert args.log_format == "json" and args.controllers == ["rayjob"]
    assert args.kubeconfig == "/k/config" and args.dashboard_access == "proxy"
    assert args.metrics_bind_address == "127.0.0.1:9090"
    options = manager_options(args)
    assert options.namespaces == ("team-a", "team-b") and options.label_selector == "owner=rayop"
    assert options.leader_election is not None
    assert (options.leader_election.name, options.leader_election.namespace) == (
        "rayop-leader", "ops")


def test_the_command_line_wins_over_env_and_namespace_repeats() -> None:
    env = {"RAYOP_NAMESPACE": "from-env", "RAYOP_LEADER_ELECT": "true",
           "RAYOP_MAX_CONCURRENT_RECONCILES": "4", "RAYOP_LOG_LEVEL": "debug"}
    args = parse("--namespace", "a", "--namespace", "b", "--leader-elect=false",
                 "--max-concurrent-reconciles", "2", "--log-level", "error", env=env)
    assert args.namespace == ["a", "b"]  # replaces the env list, never appends to it
    assert args.leader_elect is False and args.max_concurrent_reconciles == 2
    assert args.log_level == "error"


@pytest.mark.parametrize(("argv", "truth"), [
    (["--leader-elect"], True), (["--leader-elect=true"], True), (["--leader-elect", "1"], True),
    (["--leader-elect=false"], False), (["--leader-elect=0"], False), ([], False),
])
def test_leader_elect_takes_gos_boolean_forms(argv: list[str], truth: bool) -> None:
    assert parse(*argv).leader_elect is truth


@pytest.mark.parametrize(("argv", "env", "named"), [
    (["--max-concurrent-reconciles", "zero"], {}, "--max-concurrent-reconciles"),
    (["--max-concurrent-reconciles", "0"], {}, "must be at least 1"),
    ([], {"RAYOP_MAX_CONCURRENT_RECONCILES": "many"}, "RAYOP_MAX_CONCURRENT_RECONCILES='many'"),
    ([], {"RAYOP_LEADER_ELECT": "maybe"}, "RAYOP_LEADER_ELECT"),
    (["--controllers", "rayjob,raypod"], {}, "raypod"),
    (["--log-format", "xml"], {}, "--log-format"),
    ([], {"RAYOP_DASHBOARD_ACCESS": "tunnel"}, "RAYOP_DASHBOARD_ACCESS"),
    (["--metrics-bind-address", ":http"], {}, "--metrics-bind-address"),
    (["--graceful-shutdown-timeout", "-1"], {}, "--graceful-shutdown-timeout"),
    ([], {"RAYOP_SELECTOR": "tier in (a"}, "RAYOP_SELECTOR"),
    (["--selector", "==x"], {}, "--selector"),
])
def test_a_bad_value_names_the_flag_or_variable(argv: list[str], env: dict[str, str],
                                               named: str) -> None:
    with pytest.raises(ValueError) as info:
        parse(*argv, env=env)
    assert named in str(info.value)


def test_a_bad_value_is_a_usage_error_not_a_traceback(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from rayop.cli.main import main

    monkeypatch.setenv("RAYOP_LOG_LEVEL", "loud")
    with pytest.raises(SystemExit) as info:
        main(["run"])
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert "RAYOP_LOG_LEVEL='loud'" in err and "Traceback" not in err


def test_dev_shares_the_common_flags_with_its_own_defaults() -> None:
    args = parse(command="dev")
    assert args.metrics_bind_address == "0" and args.health_probe_bind_address == "0"
    assert args.log_level == "warning"
    args = parse("--metrics-bind-address", "127.0.0.1:0", command="dev",
                 env={"RAYOP_HEALTH_PROBE_BIND_ADDRESS": "127.0.0.1:0"})
    assert args.metrics_bind_address == "127.0.0.1:0"
    assert args.health_probe_bind_address == "127.0.0.1:0"


def test_no_cluster_configuration_exits_1_with_one_line(
    monkeypatch: pytest.MonkeyPatch, tmp_path: object, capsys: pytest.CaptureFixture[str]
) -> None:
    from rayop.cli.main import main

    monkeypatch.delenv("KUBECONFIG", raising=False)
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    assert main(["run", "--metrics-bind-address=0", "--health-probe-bind-address=0"]) == 1
    err = capsys.readouterr().err
    assert "no cluster to run against" in err and "Traceback" not in err
