"""The example in docs/runtime.md runs and prints what the page says it prints."""

from __future__ import annotations

from pathlib import Path

import pytest

DOC = Path(__file__).resolve().parents[2] / "docs" / "runtime.md"


def blocks(after: str) -> tuple[str, str]:
    """The python block after the heading ``after`` and the plain block that follows it."""
    text = DOC.read_text().split(after, 1)[1]
    code = text.split("```python\n", 1)[1].split("```", 1)[0]
    rest = text.split("```python\n", 1)[1].split("```", 1)[1]
    shown = rest.split("```\n", 1)[1].split("```", 1)[0]
    return code, shown


def test_the_leader_handover_example_prints_what_the_page_shows(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, shown = blocks("## Example")
    assert "asyncio.run(main())" in code  # runs as a script would, on its own loop
    exec(compile(code, "docs/runtime.md", "exec"), {"__name__": "docs_example"})
    printed = [line for line in capsys.readouterr().out.splitlines()
               if " reconciles " in line]
    assert printed == shown.strip().splitlines()

