"""The resource knowledge base on disk: one JSON file, written atomically.

A run reads the base its predecessor left (:func:`load_knowledge`) and writes back what it
learned (:func:`save_knowledge`): the file is written beside its final name, flushed to disk and
renamed over it, so a reader sees the old base or the new one, never half of one.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

from cnc6g.policies.knowledge import KnowledgeBase


def save_knowledge(base: KnowledgeBase, path: Path) -> Path:
    """Write ``base`` to ``path`` (JSON) atomically; the folder is made if missing."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps(base.to_dict(), indent=1, allow_nan=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o644)  # mkstemp makes it private; the base is not a secret
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def load_knowledge(path: Path, default: KnowledgeBase | None = None) -> KnowledgeBase:
    """The base in ``path``; ``default`` (or an empty base) when there is no such file.

    Raises:
        ValueError: the file is not a knowledge base (the message names it).
    """
    path = Path(path)
    if not path.exists():
        return default if default is not None else KnowledgeBase()
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return KnowledgeBase.from_dict(data)
    except (json.JSONDecodeError, ValueError) as err:
        raise ValueError(f"{path}: not a knowledge base: {err}") from None


__all__ = ["load_knowledge", "save_knowledge"]
