"""Builders the tests share: hand-built systems and one-step helpers."""

import numpy as np

from cnc6g.model import (
    Domain,
    DomainKind,
    Node,
    RadioLink,
    Scenario,
    ServiceType,
    TwinSettings,
    WiredLink,
    Workflow,
    Workload,
)
from cnc6g.twin import Twin


def node(name, capacity, memory, idle=0.0, peak=1.0, **fields):
    """A node with its capacity (Gc/s), memory (GB) and idle and peak power (W)."""
    return Node(
        name=name,
        capacity_gcps=capacity,
        memory_gb=memory,
        idle_power_w=idle,
        peak_power_w=peak,
        **fields,
    )


def one_cell(
    services,
    *,
    terminal,
    ran,
    transport=None,
    radio=None,
    link=None,
    workload=None,
    twin=None,
    name="mini",
):
    """A scenario of one cell: terminal domain T, RAN domain R and optionally transport X.

    ``terminal``, ``ran`` and ``transport`` are each domain's node; ``radio`` the fields of the
    T-R radio link beyond its ends (default 10/10 MHz at 20 dB); ``link`` the fields of the R-X
    wired link beyond its ends (default 1 Gbit/s, 1 ms).
    """
    domains = [
        Domain(name="T", kind=DomainKind.TERMINAL, nodes=[terminal]),
        Domain(name="R", kind=DomainKind.RAN, nodes=[ran]),
    ]
    wired = []
    if transport is not None:
        domains.append(Domain(name="X", kind=DomainKind.TRANSPORT, nodes=[transport]))
        wired.append(WiredLink(a="R", b="X", **(link or {"bandwidth_gbps": 1.0, "delay_ms": 1.0})))
    radio_fields = radio or {"uplink_mhz": 10.0, "downlink_mhz": 10.0, "mean_snr_db": 20.0}
    return Scenario(
        name=name,
        domains=domains,
        radio_links=[RadioLink(terminal="T", ran="R", **radio_fields)],
        wired_links=wired,
        services=services,
        workload=workload or Workload(requests_per_slot=(1, 1)),
        twin=twin or TwinSettings(),
    )


def workflow_crosscheck(service, stages, deadline_s, capacity, name):
    """Service ``service`` whose ``stages`` are placed step by step, on a terminal, MEC and DC node.

    The nodes have ``capacity`` (Gc/s, terminal, MEC, DC) and 8 GB; the MEC node is 1 ms and the
    DC node 2 ms from their gateways, the R-X link 5 ms; slots of 1 s. The service moves no data.
    """
    service = ServiceType(
        name=service,
        input_mbit=0.0,
        output_mbit=0.0,
        memory_gb=1.0,
        deadline_ms=deadline_s * 1e3,
        workflow=Workflow(stages=stages),
        place_steps=True,
    )
    return one_cell(
        [service],
        terminal=node("T-node", capacity[0], 8.0),
        ran=node("R-mec", capacity[1], 8.0, access_delay_ms=1.0),
        transport=node("X-dc", capacity[2], 8.0, access_delay_ms=2.0),
        link={"bandwidth_gbps": 1.0, "delay_ms": 5.0},
        name=name,
        twin=TwinSettings(slot_ms=1000.0),
    )


def greedy_step(agents, system, seed=3):
    """What ``agents`` do without exploration on the first slot of two copies of ``system``."""
    twin = Twin(system, batch=2, seed=seed)
    return agents.act(
        twin.demand.astype(float),
        twin.uplink_mbps,
        twin.deployment,
        twin.utilisation,
        0.0,
        0.0,
        np.random.default_rng(0),
    )


def random_slot(system, rng, batch, sparsity):
    """A random slot's inputs for ``system``: demand, up and down rates, deployment, previous
    deployment and routing (``sparsity``: the share of (origin, service) rows with requests)."""
    from cnc6g.twin.dynamics import clean_routing

    B, O, S, N, K = batch, system.n_origins, system.n_services, system.n_nodes, system.n_candidates
    demand = rng.integers(0, 20, size=(B, O, S)) * (rng.random((B, O, S)) < sparsity)
    previous = system.can_host[None] & (rng.random((B, S, N)) < 0.5)
    deployment = system.can_host[None] & (rng.random((B, S, N)) < 0.6)
    routing = rng.random((B, O, S, K)) * (rng.random((B, O, S, K)) < 0.4)
    routing *= system.admissible[None] | (rng.random((B, O, S, K)) < 0.1)  # a few unusable
    routing = clean_routing(routing * rng.uniform(0.5, 1.5, size=(B, O, S, 1)))
    up = rng.uniform(20.0, 600.0, size=(B, O))
    down = rng.uniform(40.0, 1200.0, size=(B, O))
    return demand, up, down, deployment, previous, routing


def tandem_sojourns(rng, rate, work, capacity, horizon_s, warm_up_s):
    """Sojourns of tasks through first-come first-served servers in tandem (SimPy).

    Tasks arrive as a Poisson stream of ``rate`` per second and take exponential work of mean
    ``work[i]`` at server ``i`` of ``capacity[i]``; the sojourns (arrival to the last server's
    end) of the tasks that arrived after ``warm_up_s``, in the order they finished, drawn from
    ``rng``.
    """
    import simpy

    env = simpy.Environment()
    servers = [simpy.Resource(env, capacity=1) for _ in capacity]
    sojourns = []

    def task(start):
        for server, mean, speed in zip(servers, work, capacity, strict=True):
            with server.request() as turn:
                yield turn
                yield env.timeout(rng.exponential(mean) / speed)
        if start >= warm_up_s:
            sojourns.append(env.now - start)

    def arrivals():
        while True:
            yield env.timeout(rng.exponential(1.0 / rate))
            env.process(task(env.now))

    env.process(arrivals())
    env.run(until=horizon_s)
    return np.array(sojourns)
