"""Reconcilers for ray.io/v1 RayCluster, RayJob and RayService."""
