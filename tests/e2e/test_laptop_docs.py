"""docs/laptop-cluster.md's embedder example runs as written and prints what the page says."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

DOC = Path(__file__).resolve().parents[2] / "docs" / "laptop-cluster.md"


def test_the_embedder_example_runs_and_prints_what_the_doc_says(tmp_path: Path) -> None:
    text = DOC.read_text()
    section = text[text.index("## In your own tests"):]
    code = re.search(r"```python\n(.*?)```", section, re.S)
    printed = re.search(r"It prints:\n\n```\n(.*?)```", section, re.S)
    assert code is not None and printed is not None
    script = tmp_path / "example.py"
    script.write_text(code.group(1))
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True,
                          timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    expected = printed.group(1).splitlines()
    got = done.stdout.splitlines()
    assert len(got) == len(expected)
    for want, line in zip(expected, got, strict=True):
        assert re.fullmatch(re.escape(want).replace(r"\.\.\.", ".+"), line), (want, line)
