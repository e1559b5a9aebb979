"""The RayCluster controller: ``reconciler`` (the steps), ``pods`` (what it builds), ``status``."""

from rayop.reconcilers.raycluster.reconciler import RayClusterReconciler

__all__ = ["RayClusterReconciler"]
