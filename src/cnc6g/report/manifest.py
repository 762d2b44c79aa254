"""Output folders that keep finished work, and the manifest that says how their files were made.

Before any work starts, :func:`prepare_folder` creates the folder and writes a file into it, so
that a path under a file, an unwritable folder or a name taken by a file is an error at once,
not after an hour of simulation. A folder holding another experiment's results is refused
unless the caller forces it. :func:`manifest` records what produced a folder: the cnc6g
version, the command line, the scenario with a hash of its content, the seeds, loads and
policies with their options (and a hash of every checkpoint file), the times and the machine.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import sys
import uuid
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

from cnc6g.report.tables import atomic_write

MANIFEST = "manifest.json"
SCHEMA = 1
"""Version of the manifest's layout."""


class FolderError(ValueError):
    """The output folder cannot be used; nothing was written."""


def prepare_folder(out: Path, identity: Mapping[str, Any], *, resume: bool, force: bool) -> None:
    """Make ``out`` ready for an experiment whose ``identity`` (what must match) is given.

    Raises:
        FolderError: ``out`` is a file or under one, cannot be written, or holds results of
            another experiment (and ``force`` is not given), or holds results and neither
            ``resume`` nor ``force`` is given.
    """
    if out.exists() and not out.is_dir():
        raise FolderError(f"{out} is a file, not a folder")
    try:
        out.mkdir(parents=True, exist_ok=True)
        probe = out / f".write-test-{uuid.uuid4().hex}"
        probe.write_text("ok", encoding="utf-8")
        probe.unlink()
    except OSError as err:
        raise FolderError(f"cannot write into {out}: {err.strerror or err}") from None
    previous = read_manifest(out)
    if previous is None or force:
        return
    before = previous.get("identity", {})
    differ = sorted(k for k in identity if before.get(k) != identity[k])
    if differ:
        raise FolderError(
            f"{out} holds results of another experiment ({', '.join(differ)} differ): "
            "choose another folder, or --force to replace them"
        )
    if not resume:
        raise FolderError(
            f"{out} holds results of this experiment: --resume to go on, --force to start over"
        )


def read_manifest(out: Path) -> dict[str, Any] | None:
    """The manifest in ``out`` (None if there is none or it is unreadable)."""
    try:
        data = json.loads((out / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def file_hash(path: str | Path) -> str:
    """SHA-256 of a file's bytes."""
    digest = hashlib.sha256()
    with Path(path).open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def text_hash(text: str) -> str:
    """SHA-256 of a text (a scenario's canonical TOML)."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _version(package: str) -> str | None:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return None


def machine() -> dict[str, Any]:
    """Where the results were made: CPUs, platform, Python and the numeric libraries."""
    return {
        "cpus": os.cpu_count(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "numpy": _version("numpy"),
        "highspy": _version("highspy"),
        "torch": _version("torch"),
        "ray": _version("ray"),
    }


def policies_record(
    specs: Sequence[str], options: Mapping[str, Mapping[str, Any]]
) -> list[dict[str, Any]]:
    """Policies with their options; a checkpoint file's hash is recorded beside its path."""
    out = []
    for spec in specs:
        opts = dict(options.get(spec, {}))
        checkpoint = opts.get("checkpoint")
        if checkpoint is not None and Path(str(checkpoint)).is_file():
            opts["checkpoint_sha256"] = file_hash(str(checkpoint))
        out.append({"policy": spec, "options": opts})
    return out


def manifest(
    command: str,
    identity: Mapping[str, Any],
    details: Mapping[str, Any],
    started: datetime,
    ended: datetime | None = None,
    status: str = "running",
) -> dict[str, Any]:
    """The manifest of an output folder."""
    from cnc6g import __version__

    return {
        "schema": SCHEMA,
        "cnc6g": __version__,
        "command": command,
        "argv": list(sys.argv),
        "identity": dict(identity),
        **dict(details),
        "started": started.isoformat(),
        "ended": None if ended is None else ended.isoformat(),
        "status": status,
        "machine": machine(),
    }


def write_manifest(out: Path, data: Mapping[str, Any]) -> Path:
    """Write the manifest into ``out`` atomically."""
    path = out / MANIFEST
    atomic_write(path, json.dumps(data, indent=2, sort_keys=True, default=str) + "\n")
    return path


def now() -> datetime:
    """The time, UTC."""
    return datetime.now(UTC)
