"""The three Ray controllers, one package each, built on :mod:`rayop.runtime` and :mod:`rayop.ray`.

``raycluster/`` (pods, head Service, status), ``rayjob/`` (a job run exactly once on a cluster it
creates or selects) and ``rayservice/`` (Serve applications, zero-downtime upgrades). RayJob and
RayService create RayClusters and use RayCluster's naming; neither imports the other.
"""

__all__: list[str] = []
