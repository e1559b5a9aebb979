"""A Serve application for the real-node tier: answers every request with its configured words.

``user_config: {message: ...}`` changes the answer in place (Serve calls ``reconfigure``); the
answer also names the RayCluster that served it (``RAY_CLUSTER_NAME``, set by rayop on every Ray
container), so a client sees which cluster answered during an upgrade.
"""

import os

from ray import serve


@serve.deployment
class Greeter:
    """Returns ``<message> from <cluster>``."""

    def __init__(self) -> None:
        self.message = "hello"

    def reconfigure(self, config: dict) -> None:
        """Take the words from the Serve config's user_config."""
        self.message = str(config.get("message", "hello"))

    async def __call__(self, request) -> str:
        return f"{self.message} from {os.environ.get('RAY_CLUSTER_NAME', '?')}"


app = Greeter.bind()
