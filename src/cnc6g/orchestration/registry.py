"""Policies by name: the built-in ones, the options each declares, and ``module:Class`` paths.

Every entry builds a fresh policy from keyword options; the options a policy takes are its
builder's keyword parameters, so a front end (the CLI, a sweep file, the API) asks the entry
which of its settings apply instead of guessing from the name. HMARL's entries give the policy
its trained agents: the checkpoint shipped for the scenario, another checkpoint, or a training
run at reset (:mod:`cnc6g.learning`).
"""

from __future__ import annotations

import importlib
import importlib.util
import inspect
import os
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

from cnc6g.policies import GreedyPolicy, OptimalPolicy, Policy, RandomPolicy
from cnc6g.policies.faas import FaaSPolicy
from cnc6g.policies.opt.regional import RegionalOptimalPolicy
from cnc6g.twin.system import System


@dataclass(frozen=True)
class PolicyEntry:
    """A built-in policy.

    Attributes:
        name: short name used on the command line and in result tables.
        summary: one line on what the policy is.
        build: makes a fresh policy from keyword options.
        check: optional; raises ``ValueError`` when the options cannot work for a system
            (a missing or mismatched checkpoint), so that a run fails before it starts.
    """

    name: str
    summary: str
    build: Callable[..., Policy]
    check: Callable[[Mapping[str, Any], System], None] | None = None

    @property
    def options(self) -> tuple[str, ...]:
        """The keyword options :attr:`build` takes."""
        return tuple(inspect.signature(self.build).parameters)


def needs_learning() -> None:
    """Raise ``ValueError`` saying how to install PyTorch when it is missing."""
    if importlib.util.find_spec("torch") is None:
        raise ValueError(
            "HMARL needs PyTorch, which is not installed: pip install 'cnc6g[learn]' "
            "(torch 2.13; pip install torch==2.13.0 first for the CPU build)"
        )


def _hmarl(mode: str) -> tuple[Callable[..., Policy], Callable[[Mapping[str, Any], System], None]]:
    """Builder and checker of HMARL in ``mode`` (PyTorch is imported when one is built)."""

    def build(
        checkpoint: str | Path | None = None,
        retrain: bool = False,
        train_steps: int | None = None,
        online: bool = False,
        online_eps: float = 0.02,
        online_noise: float = 0.02,
        threads: int | None = 1,
    ) -> Policy:
        needs_learning()
        from cnc6g.learning import FromCheckpoint, Retrain
        from cnc6g.policies.hmarl import HMARLPolicy

        source = Retrain(train_steps) if retrain else FromCheckpoint(checkpoint)
        return HMARLPolicy(mode, source, online, online_eps, online_noise, threads)

    def check(options: Mapping[str, Any], system: System) -> None:
        needs_learning()
        if options.get("retrain"):
            return
        from cnc6g.learning import FromCheckpoint

        FromCheckpoint(options.get("checkpoint"))(system, mode, None)

    return build, check


def _always_on(target_utilisation: float = 0.8) -> Policy:
    """FaaS's placement, instances kept (the always-on deployment to compare FaaS with)."""
    return FaaSPolicy(keep_alive_slots=None, target_utilisation=target_utilisation)


def _entries() -> dict[str, PolicyEntry]:
    entries = [
        PolicyEntry("rand", "random deployment and distribution (a lower baseline)", RandomPolicy),
        PolicyEntry("grd", "popularity-based deployment, load-aware distribution", GreedyPolicy),
        PolicyEntry("opt", "per-slot optimum of a MILP with global information", OptimalPolicy),
        PolicyEntry(
            "opt-regions",
            "OPT's model decomposed by region, with a Lagrangian bound (for 100+ cells)",
            RegionalOptimalPolicy,
        ),
        PolicyEntry("faas", "functions: started on a request, released when idle", FaaSPolicy),
        PolicyEntry("faas-always-on", "FaaS's placement with instances never released", _always_on),
    ]
    for name, mode, summary in (
        ("hmarl", "hmarl", "seed 002's hierarchical multi-agent learning orchestrator"),
        ("hmarl-central", "central", "HMARL ablation: one agent sets every knob"),
        ("hmarl-independent", "independent", "HMARL ablation: no distributor"),
    ):
        build, check = _hmarl(mode)
        entries.append(PolicyEntry(name, summary, build, check))
    return {e.name: e for e in entries}


BUILTIN: dict[str, PolicyEntry] = _entries()
"""Built-in policies by their short name."""


def make_policy(spec: str, **options: Any) -> Policy:
    """A fresh policy from a short name (see :data:`BUILTIN`) or ``package.module:Class``.

    Args:
        spec: the name or import path.
        options: keyword options of a built-in policy (see :attr:`PolicyEntry.options`).

    Raises:
        ValueError: the name is unknown, an option is not the policy's, or the import path
            does not give a :class:`~cnc6g.policies.Policy` subclass.
    """
    if spec in BUILTIN:
        entry = BUILTIN[spec]
        unknown = sorted(set(options) - set(entry.options))
        if unknown:
            raise ValueError(
                f"policy {spec} takes no option {', '.join(unknown)} "
                f"(its options: {', '.join(entry.options) or 'none'})"
            )
        return entry.build(**options)
    if ":" not in spec:
        raise ValueError(
            f"unknown policy {spec!r}: use one of {', '.join(BUILTIN)}, package.module:Class "
            "or file.py:Class"
        )
    if options:
        raise ValueError(f"options are for built-in policies only, not {spec!r}")
    cls = policy_class(spec)
    try:
        return cls()
    except Exception as err:
        raise ValueError(
            f"policy {spec!r} cannot be made without arguments: {type(err).__name__}: {err} "
            "(a policy's constructor takes only options with defaults)"
        ) from None


def policy_class(spec: str) -> type[Policy]:
    """The class ``spec`` names: ``package.module:Class`` or ``path/to/file.py:Class``.

    A module is looked for in the current folder too (as ``python -m`` would); a file path is
    loaded as a module of its own.

    Raises:
        ValueError: nothing importable there, or not a :class:`~cnc6g.policies.Policy` subclass.
    """
    target, _, attr = spec.rpartition(":")
    if not target or not attr:
        raise ValueError(f"expected package.module:Class or file.py:Class, got {spec!r}")
    try:
        if target.endswith(".py") or "/" in target or os.sep in target:
            module = _load_file(Path(target))
        else:
            module = _import(target)
        cls = getattr(module, attr)
    except (ImportError, AttributeError, OSError, SyntaxError) as err:
        raise ValueError(f"cannot import policy {spec!r}: {type(err).__name__}: {err}") from None
    if not (isinstance(cls, type) and issubclass(cls, Policy)):
        raise ValueError(f"{spec!r} is not a subclass of cnc6g.policies.Policy")
    return cls


def _import(name: str) -> ModuleType:
    """Import ``name``, looking in the current folder too."""
    here = os.getcwd()
    if here not in sys.path:
        sys.path.insert(0, here)
    return importlib.import_module(name)


def _load_file(path: Path) -> ModuleType:
    """Load a Python file as a module (named after its absolute path, so twice is once)."""
    path = path.expanduser().resolve()
    if not path.is_file():
        raise ImportError(f"no file {path}")
    name = "cnc6g_user_" + "_".join(path.with_suffix("").parts[-3:]).replace(".", "_")
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[name]
        raise
    return module


def check_policy_options(spec: str, options: Mapping[str, Any], system: System) -> None:
    """Raise ``ValueError`` when policy ``spec`` with ``options`` cannot run on ``system``.

    For HMARL this loads the checkpoint the policy would use and checks it fits the system, so
    that a run or a sweep stops before any work instead of in its first job.
    """
    entry = BUILTIN.get(spec)
    if entry is not None and entry.check is not None:
        entry.check(options, system)
