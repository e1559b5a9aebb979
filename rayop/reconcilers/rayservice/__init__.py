"""The RayService controller: ``reconciler``, ``actions``, ``serve``, ``services``, ``status``.

``hash`` decides when a spec change needs a new cluster; ``metrics`` are KubeRay's names.
"""

from rayop.reconcilers.rayservice.reconciler import RayServiceReconciler

__all__ = ["RayServiceReconciler"]
