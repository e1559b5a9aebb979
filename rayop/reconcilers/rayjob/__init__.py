"""The RayJob controller: ``reconciler`` (the phases), ``submit``, ``status``, ``metrics``."""

from rayop.reconcilers.rayjob.reconciler import RayJobReconciler

__all__ = ["RayJobReconciler"]
