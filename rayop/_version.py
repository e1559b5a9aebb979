"""The version of rayop, in one place (the package, the manifests' image tag)."""

__all__ = ["__version__"]

__version__ = "0.1.0"
