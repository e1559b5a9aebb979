"""A tiny Ray Serve application for the real-Ray contract tier (imported by the Ray head).

``scripts/ray-tier.sh`` puts this directory on the head's ``PYTHONPATH`` so the Serve config can
name it as ``serve_app:app``. Importing it needs ``ray[serve]``; the default test run never does.
"""

from __future__ import annotations

from ray import serve


@serve.deployment(ray_actor_options={"num_cpus": 0.1})
class Greeter:
    """Answer every request with a fixed greeting."""

    def __init__(self, greeting: str = "hello from rayop") -> None:
        self.greeting = greeting

    async def __call__(self, request: object) -> str:
        """Return the greeting."""
        return self.greeting


app = Greeter.bind()
