"""Reading the files a user names: YAML or JSON, every document, ``kind: List`` expanded.

The one reader of ``rayop validate`` and ``rayop dev --apply``, so both accept the same files.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml

from rayop.ray.resources.serve import yaml_error_text

__all__ = ["read_documents"]


def read_documents(path: Path) -> list[Any]:
    """Return the non-empty documents of a file, ``kind: List`` items expanded."""
    try:
        text = path.read_bytes().decode("utf-8")
    except OSError as error:
        raise ValueError(f"cannot read: {error.strerror or error}") from None
    except UnicodeDecodeError:
        raise ValueError("cannot read: not a UTF-8 text file") from None
    if "\x00" in text:
        raise ValueError("cannot read: a binary file, not YAML or JSON")
    if path.suffix == ".json":
        try:
            documents = [json.loads(text)] if text.strip() else []
        except json.JSONDecodeError as error:
            raise ValueError(f"not JSON: line {error.lineno}: {error.msg}") from None
    else:
        try:
            documents = list(yaml.safe_load_all(text))
        except yaml.YAMLError as error:
            raise ValueError(f"not YAML: {yaml_error_text(error)}") from None
    return [item for doc in documents if doc is not None for item in _expand(doc)]


def _expand(document: Any) -> list[Any]:
    if isinstance(document, dict) and document.get("kind") == "List":
        items = document.get("items")
        return list(items) if isinstance(items, list) else [document]
    return [document]
