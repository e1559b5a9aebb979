"""Fixtures of the real-Ray scenario tier: rayop on the fake cluster, one real Ray head behind it.

These tests run only when ``RAYOP_TEST_RAY_ADDRESS`` names a Ray head's dashboard (for example
``http://127.0.0.1:8265``); ``scripts/ray-tier.sh`` starts one on loopback, with
``tests/contract/dashboard`` (``serve_app``) on its ``PYTHONPATH``, and runs this directory.
Every RayCluster the operator creates is answered by that one head: its pods are the kubelet
simulator's, its Ray is real. Virtual time is paced to the wall clock (``FakeEnv(paced=True)``).
"""

from __future__ import annotations

import os

import pytest
from realray_kit import RAY_ADDRESS


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark every test here ``realray`` and skip it without a Ray head."""
    here = os.path.dirname(__file__)
    skip = pytest.mark.skip(
        reason="RAYOP_TEST_RAY_ADDRESS is not set (scripts/ray-tier.sh runs this tier)")
    for item in items:
        if str(item.path).startswith(here):
            item.add_marker(pytest.mark.realray)
            if not RAY_ADDRESS:
                item.add_marker(skip)
