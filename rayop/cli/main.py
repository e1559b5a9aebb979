"""The ``rayop`` command: one table of subcommands, each a parser setup and a run function.

To add a subcommand, write ``_configure_x(parser)`` and ``_run_x(args) -> int`` and add one
:class:`Command` to :data:`COMMANDS`; :func:`main` does the rest.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from rayop.cli.dev import configure_dev, dev_command
from rayop.cli.documents import read_documents
from rayop.cli.run import configure_run, run_command
from rayop.operator.manifests import ManifestOptions, build_manifests, dump_manifests
from rayop.ray.crds import generate_crds, write_crds
from rayop.ray.resources.common import describe_value
from rayop.ray.resources.validation import VALIDATORS

__all__ = ["COMMANDS", "Command", "build_parser", "main"]

MANIFEST_SUFFIXES = (".yaml", ".yml", ".json")


@dataclass(frozen=True)
class Command:
    """One subcommand: its name, its one-line help, how to set up its parser, how to run it."""

    name: str
    help: str
    configure: Callable[[argparse.ArgumentParser], None]
    run: Callable[[argparse.Namespace], int]


# ---- rayop validate -------------------------------------------------------------------------


@dataclass
class _Tally:
    checked: int = 0
    invalid: int = 0
    skipped: int = 0


def _configure_validate(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "paths",
        nargs="+",
        metavar="FILE",
        type=Path,
        help="manifest files (YAML, multi-document, or JSON) or directories to search",
    )


def _run_validate(args: argparse.Namespace) -> int:
    tally = _Tally()
    for path in _manifest_files(args.paths, tally):
        _validate_file(path, tally, out=sys.stdout, err=sys.stderr)
    print(
        f"{tally.checked} ray.io object(s) checked, {tally.invalid} invalid, "
        f"{tally.skipped} other object(s) skipped",
        file=sys.stderr,
    )
    return 1 if tally.invalid else 0


def _manifest_files(paths: Sequence[Path], tally: _Tally) -> Iterator[Path]:
    for path in paths:
        if path.is_dir():
            found = sorted(p for p in path.rglob("*") if p.suffix in MANIFEST_SUFFIXES)
            yield from (p for p in found if p.is_file())
        elif path.is_file():
            yield path
        else:
            print(f"{path}: no such file or directory", file=sys.stdout)
            tally.invalid += 1


def _validate_file(path: Path, tally: _Tally, *, out: TextIO, err: TextIO) -> None:
    try:
        documents = read_documents(path)
    except ValueError as error:
        print(f"{path}: {error}", file=out)
        tally.invalid += 1
        return
    if not documents:
        print(f"{path}: note: no objects in this file", file=err)
    for index, document in enumerate(documents, start=1):
        _validate_document(path, index, document, tally, out=out, err=err)


def _validate_document(
    path: Path, index: int, document: Any, tally: _Tally, *, out: TextIO, err: TextIO
) -> None:
    if not isinstance(document, dict):
        got = describe_value(document)
        print(f"{path}: document {index}: not a Kubernetes object (a mapping): got {got}", file=out)
        tally.invalid += 1
        return
    label = _label(document)
    kind = document.get("kind")
    validator = VALIDATORS.get(str(kind))
    api_version = str(document.get("apiVersion", ""))
    if validator is None or not api_version.startswith("ray.io/"):
        print(f"{path}: {label}: note: skipped, not a ray.io kind", file=err)
        tally.skipped += 1
        return
    tally.checked += 1
    problems = validator(document)
    for problem in problems:
        print(f"{path}: {label}: {problem}", file=out)
    if problems:
        tally.invalid += 1


def _label(document: dict[str, Any]) -> str:
    metadata = document.get("metadata")
    metadata = metadata if isinstance(metadata, dict) else {}
    name = metadata.get("name") or metadata.get("generateName") or "(unnamed)"
    namespace = metadata.get("namespace")
    kind = document.get("kind") or "(no kind)"
    return f"{kind}/{namespace}/{name}" if namespace else f"{kind}/{name}"


# ---- rayop crds -----------------------------------------------------------------------------


def _configure_crds(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--output",
        "-o",
        type=Path,
        default=Path("deploy/crds"),
        help="directory to write the CRD YAML files into (default: deploy/crds)",
    )


def _run_crds(args: argparse.Namespace) -> int:
    for path in write_crds(args.output):
        print(path)
    return 0


# ---- rayop manifests ------------------------------------------------------------------------


def _configure_manifests(parser: argparse.ArgumentParser) -> None:
    defaults = ManifestOptions()
    parser.add_argument("--operator-namespace", default=defaults.namespace,
                        help=f"namespace the operator runs in (default {defaults.namespace})")
    parser.add_argument("--image", default=defaults.image,
                        help=f"operator image (default {defaults.image})")
    parser.add_argument("--namespace", action="append", default=[], dest="watch_namespaces",
                        help="watch only this namespace: namespaced Roles instead of a "
                             "ClusterRole (repeatable)")
    parser.add_argument("--selector", help="reconcile only objects with these labels")
    parser.add_argument("--replicas", type=int, default=defaults.replicas)
    parser.add_argument("--no-leader-elect", dest="leader_elect", action="store_false",
                        help="no leader election (and no Lease permissions)")
    parser.add_argument("--dashboard-access", choices=("direct", "proxy"),
                        default=defaults.dashboard_access,
                        help="proxy adds services/proxy permissions")
    parser.add_argument("--crds", action="store_true",
                        help="put the CustomResourceDefinitions first")
    parser.add_argument("--output", "-o", type=Path,
                        help="write to this file instead of standard output")


def _run_manifests(args: argparse.Namespace) -> int:
    opts = ManifestOptions(namespace=args.operator_namespace, image=args.image,
                           watch_namespaces=tuple(args.watch_namespaces), selector=args.selector,
                           replicas=args.replicas, leader_elect=args.leader_elect,
                           dashboard_access=args.dashboard_access)
    objects = [*(generate_crds() if args.crds else []), *build_manifests(opts)]
    text = dump_manifests(objects, header="# generated by `rayop manifests`; do not edit")
    if args.output is None:
        sys.stdout.write(text)
    else:
        args.output.write_text(text)
        print(args.output, file=sys.stderr)
    return 0


# ---- the table and the entry point ----------------------------------------------------------

COMMANDS: tuple[Command, ...] = (
    Command(
        "run",
        "run the operator against a Kubernetes cluster (kubeconfig or in-cluster)",
        configure_run,
        run_command,
    ),
    Command(
        "dev",
        "run the operator on the in-memory fake cluster and apply manifests (no cluster needed)",
        configure_dev,
        dev_command,
    ),
    Command(
        "validate",
        "check RayJob, RayService and RayCluster manifests offline; exit 1 if any is invalid",
        _configure_validate,
        _run_validate,
    ),
    Command(
        "crds",
        "write the CustomResourceDefinitions of the ray.io kinds as YAML",
        _configure_crds,
        _run_crds,
    ),
    Command(
        "manifests",
        "print the operator's install manifests: RBAC, ServiceAccount, Deployment, metrics Service",
        _configure_manifests,
        _run_manifests,
    ),
)
"""Every subcommand of ``rayop``, in the order ``--help`` lists them."""


def build_parser(commands: Sequence[Command] = COMMANDS) -> argparse.ArgumentParser:
    """Return the argument parser of ``rayop`` with one subparser per command."""
    parser = argparse.ArgumentParser(
        prog="rayop",
        description="Reconcile Ray's Kubernetes resources, the controller-runtime way.",
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for command in commands:
        sub = subparsers.add_parser(command.name, help=command.help, description=command.help)
        command.configure(sub)
        sub.set_defaults(run=command.run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``rayop`` with ``argv`` (default: the process arguments); return the exit status."""
    args = build_parser().parse_args(argv)
    run: Callable[[argparse.Namespace], int] = args.run
    return run(args)


if __name__ == "__main__":
    sys.exit(main())
