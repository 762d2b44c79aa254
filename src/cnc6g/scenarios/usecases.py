"""Seed 000's use cases (section 4) as scenarios: XR offload, environmental sensing, wind farm.

Each builder takes the small case-study shape of ``synthetic_scenario``
(3 cells, a MEC server per cell, a regional data centre and a cloud) and replaces its service
types with the steps of the use case, one service type per step, so that ``run`` and ``compare``
serve the steps like any other services and ``cnc6g usecase`` places them as a chain or a DAG
with the service path scheduler. Speech translation (section 4.1) is the ``speech-translation``
preset of :mod:`cnc6g.scenarios.presets`.

The third-party cloud of these presets has GPUs (an AI cloud), unlike the CPU cloud of the
case-study shape: the seed's options put large models there. Every figure is in the preset's
``notes`` with its source; a figure the seed does not give is marked as an assumption.
"""

from __future__ import annotations

from cnc6g.model import DomainKind, ProcessorKind, Scenario, ServiceType, Stage, Workflow
from cnc6g.scenarios.synthetic import synthetic_scenario

TERMINAL, RAN, TRANSPORT = DomainKind.TERMINAL, DomainKind.RAN, DomainKind.TRANSPORT

SHAPE_NOTES = [
    "System: the case-study shape with 3 cells (cnc6g.scenarios.synthetic): a terminal pool of "
    "6 gigacycles/s per cell (an NPU), one MEC GPU server of 40 gigacycles/s per cell 0.5 ms "
    "behind its base station, a regional DC of 200 gigacycles/s in the transport domain 3 ms "
    "away, and a cloud of 400 gigacycles/s 20 ms further; radio by Shannon over 50 MHz up / "
    "100 MHz down at a mean SNR of 12-22 dB (see the notes of the tiny preset for the sources).",
    "The cloud is a third-party AI cloud with GPUs here (the case-study cloud is CPU only), so "
    "the seed's cloud options can run the GPU steps.",
    "Services: one service type per step of the use case, so run/compare serve the steps "
    "independently; `cnc6g usecase` places them together as a chain or DAG.",
]


def _base(name: str, description: str, notes: list[str], steps: list[ServiceType]) -> Scenario:
    base = synthetic_scenario(
        name,
        n_cells=3,
        n_services=1,
        offered_load=0.5,
        seed=7,
        description=description,
        notes=[*SHAPE_NOTES, *notes],
    )
    data = base.model_dump()
    for dom in data["domains"]:
        for node in dom["nodes"]:
            if node["name"].endswith("-cloud"):
                node["processor"] = ProcessorKind.GPU
    data["services"] = [s.model_dump() for s in steps]
    return Scenario.model_validate(data)


XR_NOTES = [
    "XR offload (seed 000, section 4.2): the glasses encode their camera stream locally "
    "(privacy protection and encoding stay on the glasses, section 4.2.2); SLAM and gesture "
    "recognition take the encoded frame; rendering takes the pose and the gesture and sends the "
    "rendered frame back to the glasses (section 4.2.2, Fig. 2).",
    "Targets (section 4.2.3, citing its refs [7] and [8]): motion-to-photon <= 20 ms for basic "
    "VR, <= 15 ms for comfort, <= 8 ms ideal, <= 70 ms with asynchronous timewarp; the general "
    "MTP target is about 20 ms (section 4.2.1).",
    "Rendered frame: 8K VR video needs >= 260 Mbit/s (section 4.2.3); at 60 frames/s "
    "(assumption) one frame is 260 / 60 = 4.33 Mbit. Encoded camera frame: 0.5 Mbit "
    "(assumption: a 30 Mbit/s stream at 60 frames/s).",
    "Work per frame (assumptions, the seed gives none): encoding 0.02 gigacycles (a hardware "
    "encoder), SLAM 0.3, gesture recognition 0.15, rendering 0.12 gigacycles; each step's "
    "deadline is the 20 ms MTP budget.",
]


XR_FRAME_NOTES = [
    "xr-frame: the whole frame as one service whose steps the twin places separately "
    "(place_steps): encode (pinned to the glasses) -> SLAM and gesture recognition -> rendering, "
    "with the step services' work and data; an instance holds every step (memory, keep-alive "
    "power and start energy the steps' sums, start-up the longest). It is listed first, so the "
    "workload's Zipf ranking makes it the most requested service; the step services stay for "
    "`cnc6g usecase`, which prices the seed's options one request at a time.",
]


def xr_offload() -> Scenario:
    """Seed 000 section 4.2: XR glasses offloading SLAM, gesture recognition and rendering."""
    steps = [
        ServiceType(
            name="xr-encode",
            compute_gcycles=0.02,
            input_mbit=0.0,
            output_mbit=0.5,
            memory_gb=0.25,
            instance_power_w=0.5,
            deadline_ms=20.0,
            tiers=[TERMINAL],
        ),
        ServiceType(
            name="xr-slam",
            compute_gcycles=0.3,
            input_mbit=0.5,
            output_mbit=0.002,
            memory_gb=1.0,
            instance_power_w=5.0,
            instantiation_energy_j=50.0,
            cold_start_ms=300.0,
            deadline_ms=20.0,
        ),
        ServiceType(
            name="xr-gesture",
            compute_gcycles=0.15,
            input_mbit=0.5,
            output_mbit=0.001,
            memory_gb=0.5,
            instance_power_w=3.0,
            instantiation_energy_j=30.0,
            cold_start_ms=300.0,
            deadline_ms=20.0,
        ),
        ServiceType(
            name="xr-render",
            compute_gcycles=0.12,
            input_mbit=0.003,
            output_mbit=4.33,
            memory_gb=1.0,
            instance_power_w=8.0,
            instantiation_energy_j=60.0,
            cold_start_ms=400.0,
            deadline_ms=20.0,
        ),
    ]
    frame = ServiceType(
        name="xr-frame",
        input_mbit=0.0,
        output_mbit=4.33,
        memory_gb=2.75,
        instance_power_w=16.5,
        instantiation_energy_j=140.0,
        cold_start_ms=400.0,
        deadline_ms=20.0,
        workflow=Workflow(
            stages=[
                Stage(name="encode", compute_gcycles=0.02, output_mbit=0.5, pin_to_terminal=True),
                Stage(name="slam", compute_gcycles=0.3, after=["encode"], output_mbit=0.002),
                Stage(name="gesture", compute_gcycles=0.15, after=["encode"], output_mbit=0.001),
                Stage(name="render", compute_gcycles=0.12, after=["slam", "gesture"]),
            ]
        ),
        place_steps=True,
    )
    return _base(
        "xr-offload",
        "Seed 000's XR offload (section 4.2): glasses encode locally; SLAM, gesture recognition "
        "and rendering on the glasses or in the network under a 20 ms motion-to-photon budget.",
        [*XR_NOTES, *XR_FRAME_NOTES],
        [frame, *steps],
    )


SENSING_NOTES = [
    "Environmental sensing for delivery vehicles (seed 000, section 4.3.2): the vehicle requests "
    "an electronic map; the network picks sensing sources (sensing base stations, sensing UEs, "
    "cameras, radars), the core network fuses the multi-source data (temporal and spatial "
    "alignment) and processes it (localisation, speed, object detection, mapping) into a "
    "real-time map sent back to the vehicle, which combines it with its own sensing (step 5): "
    "the vehicle's sensing runs beside the network's and joins the map in its planning.",
    "Targets (section 4.3.3, after 3GPP SA1's 6G use case 7.3, High-Resolution Terrain Map): "
    "sensing service latency <= 50 ms, map refresh < 0.2 s (a map every 0.2 s per vehicle).",
    "Steps (sources and sizes are assumptions; the seed gives no data volumes): the vehicle's "
    "own sensing (on the vehicle, 0.2 gigacycles, 0.5 Mbit of detections), base-station "
    "sensing (at the RAN, 0.4 gigacycles, 2 Mbit of point cloud), roadside cameras (at the "
    "RAN, 0.5 gigacycles, 1 Mbit of detections), fusion (1.0 gigacycles, 1 Mbit), mapping "
    "(2.0 gigacycles, a 0.4 Mbit map) and the vehicle's planning with the map (0.1 gigacycles, "
    "on the vehicle); each step's deadline is the 50 ms service latency.",
]


SENSING_TASK_NOTES = [
    "sense-task: the network's part of a map request as one service whose steps the twin "
    "places separately (place_steps): base-station sensing and camera sensing (each started by "
    "the vehicle's 0.001 Mbit request) -> fusion -> mapping, the map (0.4 Mbit) back to the "
    "vehicle, with the step services' work and data; an instance holds every step (memory 6 GB, "
    "keep-alive power 20 W and start energy 200 J the steps' sums, start-up 300 ms the longest). "
    "Its deadline is the 50 ms service latency. The vehicle's own sensing and its planning run "
    "on the vehicle beside the service (step 5), so they are not steps of it: a step on the "
    "vehicle would need the whole instance there, and the vehicle's 4 GB hold no 6 GB instance. "
    "Every step may run on any RAN or transport node (one instance type for all the steps), so "
    "sensing is not tied to the base station as the step services sense-bs and sense-camera are.",
    "Map refresh (section 4.3.3): a map every 0.2 s per vehicle is 5 requests per second, so the "
    "workload's N requests per 1 s slot stand for N / 5 vehicles.",
    "sense-task is listed first, so the workload's Zipf ranking makes it the most requested "
    "service; the step services stay for `cnc6g usecase`, which prices the seed's options one "
    "request at a time.",
]


def env_sensing() -> Scenario:
    """Seed 000 section 4.3: multi-source sensing fused in the network into a map for a vehicle."""
    common = {"instance_power_w": 5.0, "instantiation_energy_j": 50.0, "cold_start_ms": 300.0}
    steps = [
        ServiceType(
            name="sense-vehicle",
            compute_gcycles=0.2,
            input_mbit=0.0,
            output_mbit=0.5,
            memory_gb=0.5,
            deadline_ms=50.0,
            tiers=[TERMINAL],
        ),
        ServiceType(
            name="sense-bs",
            compute_gcycles=0.4,
            input_mbit=0.001,
            output_mbit=2.0,
            memory_gb=1.0,
            deadline_ms=50.0,
            tiers=[RAN],
            **common,
        ),
        ServiceType(
            name="sense-camera",
            compute_gcycles=0.5,
            input_mbit=0.001,
            output_mbit=1.0,
            memory_gb=1.0,
            deadline_ms=50.0,
            tiers=[RAN],
            **common,
        ),
        ServiceType(
            name="sense-fuse",
            compute_gcycles=1.0,
            input_mbit=2.0,
            output_mbit=1.0,
            memory_gb=2.0,
            deadline_ms=50.0,
            **common,
        ),
        ServiceType(
            name="sense-map",
            compute_gcycles=2.0,
            input_mbit=1.0,
            output_mbit=0.4,
            memory_gb=2.0,
            deadline_ms=50.0,
            **common,
        ),
        ServiceType(
            name="sense-plan",
            compute_gcycles=0.1,
            input_mbit=0.4,
            output_mbit=0.001,
            memory_gb=0.5,
            deadline_ms=50.0,
            tiers=[TERMINAL],
        ),
    ]
    task = ServiceType(
        name="sense-task",
        input_mbit=0.001,
        output_mbit=0.4,
        memory_gb=6.0,
        instance_power_w=20.0,
        instantiation_energy_j=200.0,
        cold_start_ms=300.0,
        deadline_ms=50.0,
        tiers=[RAN, TRANSPORT],
        workflow=Workflow(
            stages=[
                Stage(name="bs", compute_gcycles=0.4, output_mbit=2.0),
                Stage(name="camera", compute_gcycles=0.5, output_mbit=1.0),
                Stage(name="fuse", compute_gcycles=1.0, after=["bs", "camera"], output_mbit=1.0),
                Stage(name="map", compute_gcycles=2.0, after=["fuse"]),
            ]
        ),
        place_steps=True,
    )
    return _base(
        "env-sensing",
        "Seed 000's environmental sensing (section 4.3): sensing base stations, cameras and the "
        "vehicle's own sensors fused in the network into a map within 50 ms.",
        [*SENSING_NOTES, *SENSING_TASK_NOTES],
        [task, *steps],
    )


WINDFARM_NOTES = [
    "Wind-farm operations assistant (seed 000, section 4.4.2): staff in the field query an "
    "assistant on a mobile device; monitoring services analyse the turbines' condition data "
    "(vibration, bearing temperature), network sensing observes the surroundings, and an LLM "
    "assistant on MEC or core resources combines them into a diagnosis and maintenance steps.",
    "The seed gives no latency figure for this use case; the target is 400 ms, the LLM step's "
    "budget in the speech-translation preset (seed 000 section 4.1.3: TTFT 154 ms for "
    "Llama-2-70B on 4 x A100, UE-to-core transmission under 100 ms).",
    "LLM step: 6 gigacycles (about 150 ms on an idle MEC GPU node, as in the speech-translation "
    "preset); the query (0.05 gigacycles, 0.01 Mbit of text) stays on the device; turbine "
    "monitoring (0.3 gigacycles, started by the query, reading condition data already in the "
    "network, 0.01 Mbit of findings) and network sensing (at the RAN, 0.3 gigacycles, 0.05 "
    "Mbit) are assumptions; the answer is 0.016 Mbit of text.",
]


WINDFARM_TASK_NOTES = [
    "wf-task: a query to the assistant as one service whose steps the twin places separately "
    "(place_steps): turbine monitoring and network sensing (each started by the query's 0.01 "
    "Mbit of text) -> the LLM assistant, the answer (0.016 Mbit) back to the device, with the "
    "step services' work; monitoring passes on its findings with the query (0.01 + 0.01 Mbit), "
    "so the assistant gets the 0.07 Mbit of the wf-assistant step service. An instance holds "
    "every step (memory 18 GB, keep-alive power 50 W and start energy 500 J the steps' sums, "
    "start-up 800 ms the longest) on a GPU node of the RAN or the transport domain, as the "
    "assistant needs. Its deadline is the assumed 400 ms. Typing the query (the wf-query step, "
    "0.05 gigacycles on the device) happens before the request and is not a step of it: a step "
    "on the device would need the whole 18 GB instance there.",
    "wf-task is listed first, so the workload's Zipf ranking makes it the most requested "
    "service; the step services stay for `cnc6g usecase`, which prices the seed's options one "
    "request at a time.",
]


def windfarm_assistant() -> Scenario:
    """Seed 000 section 4.4: an LLM operations assistant fed by monitoring and sensing services."""
    common = {"instance_power_w": 5.0, "instantiation_energy_j": 50.0, "cold_start_ms": 300.0}
    steps = [
        ServiceType(
            name="wf-query",
            compute_gcycles=0.05,
            input_mbit=0.0,
            output_mbit=0.01,
            memory_gb=0.25,
            deadline_ms=400.0,
            tiers=[TERMINAL],
        ),
        ServiceType(
            name="wf-monitor",
            compute_gcycles=0.3,
            input_mbit=0.01,
            output_mbit=0.01,
            memory_gb=1.0,
            deadline_ms=400.0,
            tiers=[RAN, TRANSPORT],
            **common,
        ),
        ServiceType(
            name="wf-sense",
            compute_gcycles=0.3,
            input_mbit=0.001,
            output_mbit=0.05,
            memory_gb=1.0,
            deadline_ms=400.0,
            tiers=[RAN],
            **common,
        ),
        ServiceType(
            name="wf-assistant",
            compute_gcycles=6.0,
            input_mbit=0.07,
            output_mbit=0.016,
            memory_gb=16.0,
            instance_power_w=40.0,
            instantiation_energy_j=400.0,
            cold_start_ms=800.0,
            deadline_ms=400.0,
            tiers=[RAN, TRANSPORT],
            processors=[ProcessorKind.GPU],
        ),
    ]
    task = ServiceType(
        name="wf-task",
        input_mbit=0.01,
        output_mbit=0.016,
        memory_gb=18.0,
        instance_power_w=50.0,
        instantiation_energy_j=500.0,
        cold_start_ms=800.0,
        deadline_ms=400.0,
        tiers=[RAN, TRANSPORT],
        processors=[ProcessorKind.GPU],
        workflow=Workflow(
            stages=[
                Stage(name="monitor", compute_gcycles=0.3, output_mbit=0.02),
                Stage(name="sense", compute_gcycles=0.3, output_mbit=0.05),
                Stage(name="assistant", compute_gcycles=6.0, after=["monitor", "sense"]),
            ]
        ),
        place_steps=True,
    )
    return _base(
        "windfarm-assistant",
        "Seed 000's wind-farm operations assistant (section 4.4): an LLM assistant fed by "
        "turbine monitoring and network sensing, on MEC, core or cloud resources.",
        [*WINDFARM_NOTES, *WINDFARM_TASK_NOTES],
        [task, *steps],
    )


__all__ = ["env_sensing", "windfarm_assistant", "xr_offload"]
