"""The real-node tier's fixtures: one node per session, the operator installed in it as users do.

``real_node`` brings the node up once (``tests/realnode/node.py``) and takes it down at the end of
the session, also on failure or Ctrl-C/SIGTERM, then checks the machine is as it was found (links,
iptables and nft rules, sysctls, network namespaces, cgroups). ``RAYOP_REALNODE=require`` (set by
``scripts/test.sh``) turns a missing part into a failure naming it; ``RAYOP_REALNODE=0`` skips.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from realnode.kit import FIGURES, Operator, figure, install_operator
from realnode.node import Layout, NodeUnavailable, RealNode, host_snapshot


def _unavailable(layout: Layout) -> str | None:
    if os.environ.get("RAYOP_REALNODE") == "0":
        return "RAYOP_REALNODE=0"
    missing = layout.missing()
    return "; ".join(missing) if missing else None


@pytest.fixture(scope="session")
def real_node() -> Iterator[RealNode]:
    """A running one-node cluster (CoreDNS ready); its admin kubeconfig is ``.kubeconfig``."""
    layout = Layout.default()
    if (reason := _unavailable(layout)) is not None:
        if os.environ.get("RAYOP_REALNODE") == "require":
            pytest.fail(f"real node required but unavailable: {reason}")
        pytest.skip(f"real node unavailable: {reason}")
    # warm, prepare.sh takes seconds: it rebuilds the operator image when rayop's code changed,
    # so the pods always run this checkout
    prepared = subprocess.run(["bash", str(Path(__file__).parent / "prepare.sh")],
                              capture_output=True, text=True, check=False)  # fmt: skip
    if prepared.returncode != 0:
        pytest.fail(f"tests/realnode/prepare.sh failed: {prepared.stderr[-3000:]}")
    node = RealNode(layout)
    node.down()  # what an earlier, killed run left behind is not part of the host's baseline
    before = host_snapshot()
    previous = signal.getsignal(signal.SIGTERM)

    def interrupted(signum: int, frame: object) -> None:
        raise KeyboardInterrupt(f"signal {signum}")  # so that the teardown below runs

    signal.signal(signal.SIGTERM, interrupted)
    try:
        try:
            node.up()
        except NodeUnavailable as missing:
            pytest.fail(str(missing))
        for step, seconds in node.timings.items():
            figure(f"bring-up: {step} (s)", round(seconds, 1))
        yield node
    finally:
        started = time.monotonic()
        node.down()
        figure("teardown (s)", round(time.monotonic() - started, 1))
        signal.signal(signal.SIGTERM, previous)
        after = host_snapshot()
        changed = {key: (before[key], after[key]) for key in before if before[key] != after[key]}
        assert not changed, f"the real node left the host changed: {changed}"


@pytest.fixture(scope="session")
def operator(real_node: RealNode) -> Operator:
    """rayop installed as users install it: ``rayop manifests --crds | kubectl apply -f -``."""
    return install_operator(real_node)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """Print what the real-node scenarios measured."""
    if FIGURES:
        terminalreporter.section("real node: measured")
        for name, value in FIGURES.items():
            terminalreporter.write_line(f"{name}: {value}")
