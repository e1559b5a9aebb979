"""docs/operations.md describes what exists: every flag, every RBAC rule, commands that parse."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

from rayop.cli.main import build_parser
from rayop.cli.run import COMMON_FLAGS, RUN_FLAGS
from rayop.operator.manifests import LEADER_ELECTION_RULES, PROXY_RULES, RECONCILE_RULES

DOC = (Path(__file__).resolve().parents[2] / "docs" / "operations.md").read_text()


def test_every_flag_is_in_the_tables_with_its_variable() -> None:
    for flag in (*RUN_FLAGS, *COMMON_FLAGS):
        assert f"| `{flag.name}` | `{flag.env}` |" in DOC, flag.name


def test_the_rbac_table_lists_every_verb_of_every_rule() -> None:
    """Each rule has its own row: its group, its resources, and exactly its verbs."""
    rows: dict[tuple[str, str], str] = {}
    for line in DOC.splitlines():
        cells = [cell.strip() for cell in line.strip("|").split("|")]
        if len(cells) == 4 and (cells[0].startswith("`") or cells[0] == "core"):
            rows[cells[0], cells[1]] = cells[2]
    for rule in (*RECONCILE_RULES, *LEADER_ELECTION_RULES, *PROXY_RULES):
        group = " ".join(f"`{g}`" if g else "core" for g in rule.api_groups)
        subresources = {r.partition("/")[2] for r in rule.resources}
        resource = (f"`{rule.resources[0]}`" if len(rule.resources) == 1
                    else f"`*/{subresources.pop()}`")
        assert rows.get((group, resource)) == ", ".join(rule.verbs), (rule, rows)


def test_rayop_commands_in_the_doc_parse() -> None:
    blocks = re.findall(r"```sh\n(.*?)```", DOC, flags=re.S)
    commands = []
    for block in blocks:
        for line in block.splitlines():
            line = line.split("#", 1)[0].strip()
            for part in re.split(r"\|\||&&|\|", line):
                words = shlex.split(part.replace("'", ""))
                if words and words[0] == "rayop":
                    commands.append(words[1:])
    assert len(commands) >= 4
    for argv in commands:
        build_parser().parse_args(argv)  # exits 2 on a flag that does not exist
