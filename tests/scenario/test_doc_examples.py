"""Every ``python`` code block of the guides runs as written (each is a complete program)."""

from __future__ import annotations

import contextlib
import io
import re
from pathlib import Path

import pytest

DOCS = Path(__file__).resolve().parents[2] / "docs"
GUIDES = ("testing-fakes.md", "rayjob.md", "raycluster.md")
_BLOCK = re.compile(r"^```python\n(.*?)^```", re.S | re.M)


def _blocks() -> list[tuple[str, str]]:
    out = []
    for guide in GUIDES:
        for index, block in enumerate(_BLOCK.findall((DOCS / guide).read_text())):
            out.append((f"{guide}#{index + 1}", block))
    return out


BLOCKS = _blocks()


def test_the_guides_have_examples() -> None:
    assert len([name for name, _ in BLOCKS if name.startswith("testing-fakes.md")]) >= 6


@pytest.mark.parametrize(("name", "code"), BLOCKS, ids=[name for name, _ in BLOCKS])
def test_a_doc_example_runs(name: str, code: str) -> None:
    out = io.StringIO()
    namespace: dict[str, object] = {"__name__": f"doc_example_{name}"}
    with contextlib.redirect_stdout(out):
        exec(compile(code, name, "exec"), namespace)  # our own docs, each a whole program
    assert out.getvalue().strip(), f"{name} printed nothing"
