"""LEAF peer for the twin throughput benchmark.

Builds a fog/cloud scenario in LEAF (PyPI package ``leafsim==0.4.2``, a SimPy-based simulator
with an energy model) and runs it for a number of one-second steps, so that the twin's
throughput can be reported as a ratio against LEAF measured in the same process.

Scenario:
    * ``n_servers`` fog nodes (400 CU, 240 W max / 100 W static) on a seeded Barabasi-Albert
      graph (m=2) whose edges are Ethernet links in both directions.
    * One cloud node (unlimited CU, power per CU) linked to every fog node by a WAN uplink and
      a WAN downlink, each with LEAF's per-bit link power model.
    * ``n_users`` user devices, each attached by a WiFi link pair to a random fog node.
    * One application per user: source task on the device -> processing task (5, 10 or 20 CU)
      -> sink task on the device, joined by two data flows. A greedy orchestrator puts the
      processing task on the least-utilised fog node that still has room, else on the cloud.
    * Every step (one simulated second) 10% of the users hand over to another random fog node:
      their WiFi links are replaced and their application is deallocated and placed again.
      With ``replace_all`` every other user's application is deallocated and placed again too
      (the peer re-deciding every placement every slot, as the twin's policies do), and the
      data-flow paths are cached per (source, destination) so that LEAF only recomputes the
      paths of users that moved: the fastest fair set-up of that peer.
    * A PowerMeter samples the whole infrastructure once per step.

leafsim is optional: this module imports without it, and :func:`run_leaf` raises a
``RuntimeError`` telling how to install it when it is missing.
"""

from __future__ import annotations

import math
import random
import statistics
import time
from typing import Any

import numpy as np

__all__ = ["LEAF_VERSION", "run_leaf"]

LEAF_VERSION = "0.4.2"
"""The leafsim release this peer was written against."""

_MISSING_LEAF = f"LEAF peer needs `pip install leafsim=={LEAF_VERSION}`"

# Fog node model (from the scenario description).
FOG_CU = 400.0
FOG_MAX_POWER_W = 240.0
FOG_STATIC_POWER_W = 100.0
BA_EDGES_PER_NODE = 2

# Cloud, link and flow figures follow the values in LEAF's smart-city example settings.
# Latencies only steer LEAF's shortest-path routing (Dijkstra on the "latency" edge weight).
CLOUD_W_PER_CU = 700e-6
WAN_BANDWIDTH = math.inf
WAN_LATENCY = 100.0
WAN_J_PER_BIT_UP = 6658e-9
WAN_J_PER_BIT_DOWN = 20572e-9
WIFI_BANDWIDTH = 1.6e9
WIFI_LATENCY = 10.0
WIFI_J_PER_BIT = 300e-9
ETHERNET_BANDWIDTH = 1e9
ETHERNET_LATENCY = 1.0
ETHERNET_J_PER_BIT = 0.0

# Applications.
TASK_CU_CHOICES = (5.0, 10.0, 20.0)
UPLINK_BIT_RATE = 100e3  # source (device) -> processing task
DOWNLINK_BIT_RATE = 50e3  # processing task -> sink (device)

# Dynamics.
STEP_S = 1.0
HANDOVER_FRACTION = 0.1
# The power meter samples half a step after the handovers, so every sample sees a settled step.
METER_OFFSET_S = 0.5


def _import_leaf() -> dict[str, Any]:
    """Import leafsim's modules (and networkx, which it brings along).

    ``leaf`` ships without an ``__init__.py`` (a namespace package), so ``import leaf`` alone
    succeeds whenever any directory named ``leaf`` is on ``sys.path``; importing the submodules
    is the reliable test that leafsim is installed.

    Returns:
        The LEAF classes and helper modules this peer uses, by name.

    Raises:
        RuntimeError: If leafsim (or one of its dependencies) is not installed.
    """
    try:
        import networkx as nx
        import simpy
        from leaf.application import Application, ProcessingTask, SinkTask, SourceTask
        from leaf.infrastructure import Infrastructure, Link, Node
        from leaf.orchestrator import Orchestrator
        from leaf.power import PowerMeter, PowerModelLink, PowerModelNode
    except ImportError as exc:
        raise RuntimeError(_MISSING_LEAF) from exc
    return {
        "nx": nx,
        "simpy": simpy,
        "Application": Application,
        "ProcessingTask": ProcessingTask,
        "SinkTask": SinkTask,
        "SourceTask": SourceTask,
        "Infrastructure": Infrastructure,
        "Link": Link,
        "Node": Node,
        "Orchestrator": Orchestrator,
        "PowerMeter": PowerMeter,
        "PowerModelLink": PowerModelLink,
        "PowerModelNode": PowerModelNode,
    }


def _greedy_orchestrator_class(orchestrator_base: type) -> type:
    """Make the greedy orchestrator as a subclass of LEAF's ``Orchestrator``.

    The class is built at call time because LEAF is only imported inside :func:`run_leaf`.

    Args:
        orchestrator_base: ``leaf.orchestrator.Orchestrator``.

    Returns:
        An orchestrator class taking ``(infrastructure, fog_nodes, cloud)``.
    """

    class GreedyOrchestrator(orchestrator_base):  # type: ignore[misc, valid-type]
        """Places a processing task on the least-utilised fog node with room, else the cloud."""

        def __init__(self, infrastructure: Any, fog_nodes: list[Any], cloud: Any) -> None:
            # Pass no `shortest_path`: leafsim 0.4.2 only sets the attribute when none is given,
            # so a custom one makes place() fail with AttributeError. Default routing it is.
            super().__init__(infrastructure)
            self.fog_nodes = fog_nodes
            self.cloud = cloud

        def _processing_task_placement(self, processing_task: Any, application: Any) -> Any:
            """Pick the node for a processing task.

            Args:
                processing_task: The task to place.
                application: The application it belongs to (unused by this policy).

            Returns:
                The least-utilised fog node that can fit the task, or the cloud if none can.
            """
            del application
            best = None
            best_util = math.inf
            for node in self.fog_nodes:
                if node.used_cu + processing_task.cu <= node.cu:
                    util = node.utilization()
                    if util < best_util:
                        best, best_util = node, util
            return self.cloud if best is None else best

    return GreedyOrchestrator


def run_leaf(
    n_servers: int, n_users: int, slots: int, seed: int, replace_all: bool = False
) -> dict[str, float]:
    """Build the LEAF scenario and run it for ``slots`` one-second steps.

    The scenario is the one in this module's docstring. Randomness comes from a
    ``random.Random``, a ``numpy`` generator and networkx's ``seed`` argument, all seeded from
    ``seed``; no global random state is touched, so equal arguments give equal runs.

    Only the SimPy run loop is timed for ``run_s``; building the infrastructure, the
    applications and their first placement is timed separately as ``build_s``.

    Args:
        n_servers: Number of fog nodes (at least 3, as Barabasi-Albert with m=2 needs).
        n_users: Number of user devices, one application each (at least 1).
        slots: Number of one-second steps to simulate (at least 1).
        seed: Seed for every random draw.
        replace_all: Re-place every user's application every step (paths cached), not only
            the users that hand over.

    Returns:
        ``slots_per_s`` (steps per wall-clock second of the run loop), ``run_s``, ``build_s``,
        ``replacements`` (handovers done, each one application re-placed) and ``energy_j``
        (infrastructure energy over the run from the power meter's samples).

    Raises:
        RuntimeError: If leafsim is not installed.
        ValueError: If a size argument is out of range.
    """
    if n_servers < BA_EDGES_PER_NODE + 1:
        raise ValueError(f"n_servers must be >= {BA_EDGES_PER_NODE + 1}, got {n_servers}")
    if n_users < 1:
        raise ValueError(f"n_users must be >= 1, got {n_users}")
    if slots < 1:
        raise ValueError(f"slots must be >= 1, got {slots}")

    lf = _import_leaf()
    nx = lf["nx"]
    link_cls = lf["Link"]
    node_cls = lf["Node"]
    power_link = lf["PowerModelLink"]

    def link(src: Any, dst: Any, bandwidth: float, latency: float, j_per_bit: float) -> Any:
        return link_cls(
            src, dst, bandwidth=bandwidth, latency=latency, power_model=power_link(j_per_bit)
        )

    def wifi_pair(user: Any, fog: Any) -> tuple[Any, Any]:
        return (
            link(user, fog, WIFI_BANDWIDTH, WIFI_LATENCY, WIFI_J_PER_BIT),
            link(fog, user, WIFI_BANDWIDTH, WIFI_LATENCY, WIFI_J_PER_BIT),
        )

    py_rng = random.Random(seed)
    np_rng = np.random.default_rng(seed)

    t_build = time.perf_counter()
    infra = lf["Infrastructure"]()
    cloud = node_cls(
        "cloud", cu=None, power_model=lf["PowerModelNode"](power_per_cu=CLOUD_W_PER_CU)
    )
    fogs = [
        node_cls(
            f"fog_{i}",
            cu=FOG_CU,
            power_model=lf["PowerModelNode"](
                max_power=FOG_MAX_POWER_W, static_power=FOG_STATIC_POWER_W
            ),
        )
        for i in range(n_servers)
    ]
    infra.add_node(cloud)
    for fog in fogs:
        infra.add_node(fog)
    for a, b in nx.barabasi_albert_graph(n_servers, BA_EDGES_PER_NODE, seed=seed).edges():
        infra.add_link(
            link(fogs[a], fogs[b], ETHERNET_BANDWIDTH, ETHERNET_LATENCY, ETHERNET_J_PER_BIT)
        )
        infra.add_link(
            link(fogs[b], fogs[a], ETHERNET_BANDWIDTH, ETHERNET_LATENCY, ETHERNET_J_PER_BIT)
        )
    for fog in fogs:
        infra.add_link(link(fog, cloud, WAN_BANDWIDTH, WAN_LATENCY, WAN_J_PER_BIT_UP))
        infra.add_link(link(cloud, fog, WAN_BANDWIDTH, WAN_LATENCY, WAN_J_PER_BIT_DOWN))

    users = [node_cls(f"user_{j}") for j in range(n_users)]
    attached = [int(i) for i in np_rng.integers(0, n_servers, size=n_users)]
    task_cu = np_rng.choice(np.asarray(TASK_CU_CHOICES), size=n_users)
    for user, fog_idx in zip(users, attached, strict=True):
        for wl in wifi_pair(user, fogs[fog_idx]):
            infra.add_link(wl)

    apps = []
    for user, cu in zip(users, task_cu, strict=True):
        app = lf["Application"]()
        source = lf["SourceTask"](cu=0, bound_node=user)
        app.add_task(source)
        proc = lf["ProcessingTask"](cu=float(cu))
        app.add_task(proc, incoming_data_flows=[(source, UPLINK_BIT_RATE)])
        app.add_task(
            lf["SinkTask"](cu=0, bound_node=user),
            incoming_data_flows=[(proc, DOWNLINK_BIT_RATE)],
        )
        apps.append(app)

    orchestrator = _greedy_orchestrator_class(lf["Orchestrator"])(infra, fogs, cloud)
    paths: dict[tuple[str, str], Any] = {}  # (source, destination) -> path, replace_all only
    touching: dict[str, list[tuple[str, str]]] = {}  # node -> the cached keys it is an end of
    if replace_all:
        uncached = orchestrator.shortest_path

        def cached_path(graph: Any, src: str, dst: str) -> Any:
            key = (src, dst)
            if key not in paths:
                paths[key] = uncached(graph, src, dst)
                touching.setdefault(src, []).append(key)
                touching.setdefault(dst, []).append(key)
            return paths[key]

        orchestrator.shortest_path = cached_path
    for app in apps:
        orchestrator.place(app)

    n_handover = min(n_users, max(1, round(HANDOVER_FRACTION * n_users)))
    replacements = 0

    def mobility(env: Any) -> Any:
        nonlocal replacements
        while True:
            moved = py_rng.sample(range(n_users), n_handover)
            for j in moved:
                user, old = users[j], attached[j]
                new = py_rng.randrange(n_servers - 1)
                if new >= old:
                    new += 1  # a handover always goes to a different fog node
                apps[j].deallocate()
                # leafsim 0.4.2 has no Infrastructure.remove_link; edit its graph directly.
                infra.graph.remove_edge(user.name, fogs[old].name)
                infra.graph.remove_edge(fogs[old].name, user.name)
                for wl in wifi_pair(user, fogs[new]):
                    infra.add_link(wl)
                attached[j] = new
                if replace_all:  # the user's paths changed with its links
                    for key in touching.pop(user.name, []):
                        paths.pop(key, None)
                orchestrator.place(apps[j])
                replacements += 1
            if replace_all:
                still = set(range(n_users)).difference(moved)
                for j in sorted(still):
                    apps[j].deallocate()
                    orchestrator.place(apps[j])
                    replacements += 1
            yield env.timeout(STEP_S)

    env = lf["simpy"].Environment()
    meter = lf["PowerMeter"](infra, name="infrastructure", measurement_interval=STEP_S)
    env.process(mobility(env))
    env.process(meter.run(env, delay=METER_OFFSET_S))
    build_s = time.perf_counter() - t_build

    t_run = time.perf_counter()
    env.run(until=slots * STEP_S)
    run_s = time.perf_counter() - t_run

    per_step = n_users if replace_all else n_handover
    if len(meter.measurements) != slots or replacements != slots * per_step:
        raise RuntimeError(
            f"LEAF run ended out of step: {len(meter.measurements)} power samples and "
            f"{replacements} handovers for {slots} slots"
        )
    energy_j = math.fsum(float(m) for m in meter.measurements) * STEP_S
    return {
        "slots_per_s": slots / run_s,
        "run_s": run_s,
        "build_s": build_s,
        "replacements": float(replacements),
        "energy_j": energy_j,
    }


if __name__ == "__main__":
    # Run as `python -m benchmarks.peers.leaf` from the repository root: run as a script, this
    # file's directory goes first on sys.path and the name `leaf` would resolve to this file.
    import sys

    _CASES = ((10, 100, 100), (100, 1000, 50))
    _SEEDS = (0, 1, 2)
    sys.stdout.write(f"{'servers':>7} {'users':>6} {'slots':>5} {'slots/s':>9} {'build s':>8}\n")
    for _s, _u, _n in _CASES:
        _runs = [run_leaf(_s, _u, _n, seed) for seed in _SEEDS]
        _rate = statistics.median(r["slots_per_s"] for r in _runs)
        _build = statistics.median(r["build_s"] for r in _runs)
        sys.stdout.write(f"{_s:>7} {_u:>6} {_n:>5} {_rate:>9.1f} {_build:>8.3f}\n")
