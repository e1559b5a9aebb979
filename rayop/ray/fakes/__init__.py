"""Ray's side of the fakes: fake Ray heads (dashboards), local real Ray, Ray kinds on a fake.

``FakeDashboards`` plays one Ray head per RayCluster (jobs, Serve applications, scripted
failures); ``with_ray_kinds`` makes a :class:`~rayop.fakes.FakeCluster` serve the ``ray.io``
kinds with rayop's CRD validation. ``rayop.ray.fakes.realray`` starts real Ray processes
on loopback for the real-Ray tier. See ``docs/fake-cluster.md``.
"""

from rayop.ray.fakes.cluster import with_ray_kinds
from rayop.ray.fakes.dashboard import AppScript, FakeDashboard, FakeDashboards, JobScript

__all__ = ["AppScript", "FakeDashboard", "FakeDashboards", "JobScript", "with_ray_kinds"]
