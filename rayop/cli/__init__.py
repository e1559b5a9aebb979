"""The ``rayop`` command: ``main`` (the command table), ``run`` (the operator), ``dev``.

``devserver`` starts the fake cluster behind its REST front for ``rayop dev``.
"""

from rayop.cli.main import main

__all__ = ["main"]
