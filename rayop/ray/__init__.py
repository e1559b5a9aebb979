"""Ray's domain, below the controllers: what Ray's resources are and how Ray is spoken to.

::

    kinds           RAYCLUSTER, RAYJOB, RAYSERVICE as Kinds
    resources/      typed models of the three kinds, their validation and CRD schemas
    crds            the CustomResourceDefinitions generated from the models
    dashboard       the Ray dashboard client contract (jobs, Serve) and its errors
    dashboard_http  that contract over HTTP
    fakes/          fake Ray heads for the fast tiers, and real local Ray for the Ray tier
"""

__all__: list[str] = []
