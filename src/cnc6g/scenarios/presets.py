"""How each shipped preset is built; ``python -m cnc6g.scenarios.presets DIR`` writes them."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from cnc6g.model import DomainKind, ProcessorKind, Scenario, ServiceType, Workload
from cnc6g.model.infra import PowerModel
from cnc6g.model.radio import RadioModel, TerminalPower
from cnc6g.model.scenario import Sojourn
from cnc6g.scenarios import dump_scenario
from cnc6g.scenarios.fit import (
    AZURE_FUNCTIONS_2019_WEEKLY,
    LLM_CONVERSATION_2023,
    LLM_CONVERSATION_TOKENS_2023,
    fit_diurnal,
    fit_mmpp,
    work_cv,
)
from cnc6g.scenarios.synthetic import synthetic_scenario
from cnc6g.scenarios.usecases import env_sensing, windfarm_assistant, xr_offload

COMMON_NOTES = [
    "Request range: the range in seed 002 section IV is lost from our copy; the volume is set by "
    "offered load L = mean work per slot / (RAN + regional-DC capacity), N ~ U[0.8, 1.2] x the "
    "mean, swept over L in 0.2..1.2 (project research note, algorithms section 1.7).",
    "Server power: linear in utilisation, idle = half of peak (Fan, Weber, Barroso, ISCA 2007). "
    "MEC servers sleep at 10 % of idle when they host no instance; the regional DC is always on; "
    "the cloud is shared with other tenants, so only its load-proportional power is charged.",
    "Terminal compute: kappa f^2 with kappa = 1e-27, f = 1.2 GHz, about 1.5 J per gigacycle "
    "(Mao et al., IEEE COMST 2017).",
    "Radio: Shannon rate over 50 MHz up / 100 MHz down, mean SNR 12-22 dB per cell, 4 dB "
    "shadowing; terminal tx power 0.2 W; base-station downlink 50 nJ/bit (EARTH model, Auer et "
    "al., IEEE Wireless Commun. 2011).",
    "Wired: 1 Gbit/s backhaul with 3 ms delay and 20 nJ/bit, 1 Gbit/s RAN ring with 1 ms, cloud "
    "20 ms behind the transport gateway at 30 nJ/bit (Baliga et al., J. Lightwave Technol. 2009).",
    "Services: parameters drawn uniformly from the ranges of cnc6g.scenarios.synthetic "
    "(research note section 1.8) with the fixed seed of the preset's builder in "
    "cnc6g.scenarios.presets; 30 % need a GPU; small CPU/NPU models may run on terminals.",
]


def paper_case_study() -> Scenario:
    """Seed 002, section IV: 10 terminal + 10 RAN + 1 transport domains, 30 services, Zipf 1.2."""
    return synthetic_scenario(
        "paper-case-study",
        n_cells=10,
        n_services=30,
        offered_load=0.8,
        description=(
            "Case study of seed 002 (Towards Ubiquitous 6G Computing and Networking "
            "Convergence, section IV): 10 terminal-side, 10 RAN-side and 1 transport-side "
            "domains, 30 service types with Zipf(1.2) popularity, uniform requests per slot."
        ),
        notes=COMMON_NOTES,
    )


RADIO_NOTES = [
    "Radio (replaces the Radio note above): 3GPP TR 38.901 UMa at 3.5 GHz, 500 m between "
    "sites, 10 users per cell at 3 km/h, outdoors; three-sector sites (boresights 30, 150 and "
    "270 degrees) with the antenna element of Table 7.3-1 (65 degree beams, 30 dB floors, 8 dBi) "
    "tilted 12 degrees down (Table 7.8-1's calibration), each sector radiating 46 dBm down "
    "(2 x 20 W) over the cell's whole band, a user served by its site's best sector; 23 dBm up "
    "with open-loop power control; per-user SINR with interference weighted by the other "
    "sectors' load; attenuated (0.75) Shannon capped at 7.4 bit/s/Hz (256-QAM) per layer, up "
    "to 4 layers down and 2 up (4T4R); a sector's rate is the bandwidth times the harmonic mean "
    "of its users' efficiencies, a cell's the sum of its sectors'.",
    "Base stations: EARTH macro site per RAN domain (Auer et al., IEEE Wireless Commun. 2011): "
    "6 transceivers x (130 W + 4.7 x 20 W x load), 75 W each asleep; 1.34 kW at full load: the "
    "three sectors of two transceivers the radio note above gives each site.",
    "Phones: LTE radio power of Huang et al. (MobiSys 2012), 0.438 W per Mbit/s up, 0.052 down, "
    "1.288 W while a transfer is on, and an 11.6 s RRC tail at 1.06 W after each user's last "
    "packet.",
    "Air interface and user plane: 4 ms one way per radio hop, ITU-R M.2410's eMBB minimum; "
    "measured commercial 5G is several times that (Xu et al., SIGCOMM 2020).",
]


def with_38901_radio(base: Scenario) -> dict[str, Any]:
    """``base``'s fields with the 38.901 radio of ``paper-case-study-38901`` (see RADIO_NOTES).

    Any scenario of the model takes it: a site per RAN domain on the hexagonal grid, its
    terminal domains' users dropped around it.
    """
    return {
        **base.model_dump(),
        "notes": [*base.notes, *RADIO_NOTES],
        "radio": RadioModel(
            downlink_layers=4, uplink_layers=2, terminal_power=TerminalPower(), sectors=3
        ).model_dump(),
    }


def paper_case_study_radio() -> Scenario:
    """The case study with geometry-based radio access and EARTH base stations."""
    return Scenario.model_validate(
        {
            **with_38901_radio(paper_case_study()),
            "name": "paper-case-study-38901",
            "description": (
                "The case study of seed 002 with its radio access modelled from geometry: 3GPP "
                "TR 38.901 urban macro path loss, three-sector sites, per-user SINR with "
                "inter-cell interference, EARTH base-station power and a 4 ms air-interface "
                "latency per radio hop."
            ),
        }
    )


CALIBRATED_PHONES = 5
"""Phones pooled by a terminal domain's node: 6 gigacycles/s at 1.2 GHz each (Mao et al.)."""

CALIBRATED_AIR_LATENCY_MS = 12.5
"""One-way air and user-plane latency: the middle of the 7-18 ms measured on commercial 5G."""

CALIBRATED_AIR_JITTER_MS = 2.75
"""Its standard deviation: the measured 7-18 ms taken as the mean plus or minus two of them."""

CALIBRATED_WAKE_MS = 4000.0
"""Resume of a server from suspend-to-RAM: the middle of the 3-5 s the Linux kernel states."""

CALIBRATED_NOTES = [
    "Server power (replaces the Server power note above): MEC servers and the regional DC on "
    "the concave curve Fan, Weber and Barroso fitted to measured servers (ISCA 2007), "
    "P = idle + (peak - idle)(2u - u^1.4), with their idle at half of peak as there; the cloud "
    "(no idle power charged) stays linear.",
    "Sleep and wake-up: a MEC server that slept wakes from suspend-to-RAM in 4 s, the middle "
    "of the 3-5 s the Linux kernel's power-state documentation gives (Documentation/power/"
    "states.txt); its instances start after that, start-ups carry over into the next slots. "
    "The node is charged its idle power while it wakes (no published surplus, so "
    "wake_energy_j = 0).",
    "Terminals: each terminal domain pools 5 phones (its 6 gigacycles/s at the 1.2 GHz of the "
    "Terminal compute note, Mao et al., IEEE COMST 2017); a local task runs on one phone with "
    "a fifth of the capacity and memory.",
    "Air interface and user plane (replaces the note above): 12.5 ms one way per radio hop "
    "with a standard deviation of 2.75 ms per cell and slot, from the 7-18 ms one-way latency "
    "measured on a commercial 5G NSA network (Kottkamp, Rohde & Schwarz, 2022: best case "
    "downlink at 100 kbit/s, worst uplink at 15 Mbit/s), the range taken as the mean plus or "
    "minus two standard deviations.",
    "Queueing: every node serves first come, first served (M/G/1, Pollaczek-Khinchine) with "
    "deterministic work per task (work_cv = 0): a DNN's inference time for a fixed input is "
    "predictable (Gujarati et al., Clockwork, OSDI 2020).",
    "Not calibrated here: the phones' radio keeps the LTE figures of Huang et al. (no 5G "
    "figures of this model's form were verified); the request counts stay uniform (bursty or "
    "diurnal parameters are not yet fitted to published traces); cold starts keep the seed's "
    "ranges.",
]


def calibrated_models(base: Scenario) -> Scenario:
    """``base`` with every calibrated model of ``paper-case-study-calibrated`` (see the notes).

    The 38.901 radio with EARTH base stations (:func:`with_38901_radio`), five phones per
    terminal domain, concave server power where a node has idle power, wake-up from suspend where
    it can sleep, measured 5G air latency with jitter, M/G/1 nodes with deterministic work and
    start-ups that carry over. Any scenario of the model takes them (``scale-100``, say); the
    result is named ``<base>-calibrated``.
    """
    data = with_38901_radio(base)
    for domain in data["domains"]:
        for node in domain["nodes"]:
            if domain["kind"] == DomainKind.TERMINAL:
                node["devices"] = CALIBRATED_PHONES
            elif node["idle_power_w"] > 0:
                node["power_model"] = PowerModel.FAN2007
            if node.get("sleep_power_w") is not None:
                node["wake_ms"] = CALIBRATED_WAKE_MS
    data["radio"]["air_latency_ms"] = CALIBRATED_AIR_LATENCY_MS
    data["radio"]["air_jitter_ms"] = CALIBRATED_AIR_JITTER_MS
    for service in data["services"]:
        service["work_cv"] = 0.0
    data["twin"]["carry_over_start_up"] = True
    data["twin"]["sojourn"] = Sojourn.MG1
    data["name"] = f"{base.name}-calibrated"
    data["notes"] = [*data["notes"], *CALIBRATED_NOTES]
    return Scenario.model_validate(data)


def paper_case_study_calibrated() -> Scenario:
    """The case study with every calibrated element the presets can cite (see the notes)."""
    return calibrated_models(paper_case_study()).model_copy(
        update={
            "description": (
                "The case study of seed 002 with every calibrated model the references support: "
                "the 38.901 radio with EARTH base stations, concave server power, wake-up from "
                "suspend, five phones per terminal domain, measured 5G air latency with jitter "
                "and M/G/1 nodes with deterministic inference work."
            ),
        }
    )


BUSY_HOUR = 14
"""Hour of day (UTC) at which Azure Functions 2019's daily profile peaks, 1.10 times its mean."""

BUSY_DAY = 0
"""Day of the week of the bursty preset's slot 0: a Monday, a weekday (1.054 of the week's mean)."""

LLM_WORK_CV = round(work_cv(LLM_CONVERSATION_TOKENS_2023), 2)
"""Coefficient of variation of an LLM request's work in the conversation trace (0.57)."""

BURSTY_NOTES = [
    "Request counts (replaces the Request range note above): Poisson counts around the mean of "
    "the offered load, modulated by a two-state Markov chain fitted by moments to the per-second "
    "request counts of the conversation service in the Azure LLM inference trace 2023 (Patel et "
    "al., Splitwise, ISCA 2024; mean 5.53, variance 7.66, third cumulant 11.8, autocorrelation "
    "about 0.2 at lags 1-10 s): rates 0.73 and 1.26 of the mean, about 44 s in each, each copy "
    "of a run starting in a state drawn from the chain's stationary distribution; see "
    "cnc6g.scenarios.fit.",
    "Daily cycle: the mean is scaled by the hour of day after the invocations per hour of Azure "
    "Functions 2019 (Shahrad et al., Serverless in the Wild, USENIX ATC 2020, Fig. 4, digitised "
    "and averaged per hour of day: 0.88 of the daily mean at 03:00 UTC, 1.10 at 14:00), one hour "
    "being 3,600 one-second slots, and by the day of the week after the same curve (weekdays "
    "1.06 and weekends 0.87 of the two weeks' mean, scaled to a weekly mean of 1: 1.054 and "
    "0.865); slot 0 is at 14:00 on a Monday, the busiest hour of a weekday, so a run of minutes "
    "offers 1.10 x 1.054 = 1.16 times the offered load L, which stays the weekly mean.",
    "Work per task (replaces the work_cv of the Queueing note above for the services that need "
    "a GPU, taken to be generative models): coefficient of variation 0.57, that of a request's "
    "work in the conversation service of the same LLM trace, its context tokens (mean 1,155, CV "
    "0.96) read in the prompt phase and its generated tokens (mean 211, CV 0.77, correlation "
    "-0.11 with the context) produced one by one, each costing 10 context tokens' work; the CV "
    "is 0.57-0.62 for any such ratio from 5 to 20 (cnc6g.scenarios.fit.work_cv). The other "
    "services keep deterministic work. The data sizes stay fixed per service (the trace's "
    "context and generated tokens vary with CVs 0.96 and 0.77; the twin's transfers are fluid, "
    "at the mean size).",
]


def paper_case_study_calibrated_bursty() -> Scenario:
    """The calibrated case study with bursty, diurnal arrivals fitted to Azure's traces."""
    base = paper_case_study_calibrated()
    data = base.model_dump()
    data["workload"]["burstiness"] = fit_mmpp(LLM_CONVERSATION_2023).model_dump()
    data["workload"]["diurnal"] = fit_diurnal(
        start_hour=BUSY_HOUR, weekly=AZURE_FUNCTIONS_2019_WEEKLY, start_day=BUSY_DAY
    ).model_dump()
    for service in data["services"]:
        if service["processors"] == [ProcessorKind.GPU]:
            service["work_cv"] = LLM_WORK_CV
    return base.model_validate(
        {
            **data,
            "name": "paper-case-study-calibrated-bursty",
            "description": (
                "The calibrated case study with its requests arriving as Azure's do: bursts "
                "fitted to the Azure LLM inference trace 2023 and the daily and weekly cycle of "
                "Azure Functions 2019, at the busiest hour of a weekday; the GPU services' work "
                "varies as the LLM trace's requests do."
            ),
            "notes": [
                *(n for n in base.notes if not n.startswith("Not calibrated here")),
                *BURSTY_NOTES,
                "Not calibrated here: the phones' radio keeps the LTE figures of Huang et al.; "
                "cold starts keep the seed's ranges; the daily profile is the whole Azure "
                "Functions platform's, the same shape every day of the week (no per-cell weights "
                "from a mobile traffic dataset); the ratio of a generated token's work to a "
                "context token's (10) is not taken from a published measurement.",
            ],
        }
    )


def tiny() -> Scenario:
    """3 terminal + 3 RAN + 1 transport domains and 6 services: for tests and quick looks."""
    return synthetic_scenario(
        "tiny",
        n_cells=3,
        n_services=6,
        offered_load=0.6,
        seed=7,
        description="A small system of the case-study shape for tests and quick experiments.",
        notes=COMMON_NOTES,
    )


def scale_100() -> Scenario:
    """100 terminal + 100 RAN domains (100 MEC servers): the benchmark's large system."""
    return synthetic_scenario(
        "scale-100",
        n_cells=100,
        n_services=30,
        offered_load=0.8,
        candidates_per_origin=16,
        description=(
            "100 cells of the case-study shape (100 MEC servers, a DC and a cloud); each origin "
            "may use its 16 nearest remote nodes. Used by the throughput benchmark."
        ),
        notes=COMMON_NOTES,
    )


def scale_1000() -> Scenario:
    """1,000 terminal + 1,000 RAN domains with 10,000 requests per slot: the benchmark's largest."""
    base = synthetic_scenario(
        "scale-1000",
        n_cells=1000,
        n_services=30,
        candidates_per_origin=16,
        description=(
            "1,000 cells of the case-study shape (1,000 MEC servers, a DC and a cloud), 10,000 "
            "requests per slot; each origin may use its 16 nearest remote nodes. The largest "
            "system of the throughput benchmark."
        ),
        notes=COMMON_NOTES,
    )
    workload = Workload(
        requests_per_slot=(10_000, 10_000), zipf_exponent=base.workload.zipf_exponent
    )
    return base.model_copy(update={"workload": workload})


TRANSLATION_NOTES = [
    "Speech translation (seed 000, section 4.1, Fig. 1): ASR on the phone turns speech into "
    "text, an LLM translates it and TTS speaks the result; option 1 runs LLM and TTS in the "
    "operator's network (MEC GPUs, the regional DC), option 2 in a third-party cloud (behind "
    "the transport gateway, 20 ms further).",
    "Work per task: the seed's figures are time to first token (TTFT) >= 700 ms for a quantised "
    "Llama-3.2-3B on a phone (Snapdragon 8 Gen 3) and 154 ms for Llama-2-70B on 4 x A100; the "
    "LLM step is sized so that it takes about 150 ms on an idle MEC GPU node (6 gigacycles at 40 "
    "gigacycles/s) and is not allowed on terminals; ASR (0.6 gigacycles, 100 ms on the phone's "
    "NPU) and TTS (1.2 gigacycles) are small models.",
    "Data: 2 s of 16 kHz speech at 128 kbit/s (0.256 Mbit) up to ASR; text of a sentence "
    "(2 kbit) between the steps; synthesised speech back (0.256 Mbit).",
    "Deadlines: 300 ms for ASR and TTS, 400 ms for the LLM step: the seed puts transmission from "
    "the UE to the core under 100 ms and calls the 154 ms of computation the larger part.",
    "Background: six synthetic service types (as in the tiny preset) keep the system loaded; the "
    "three translation types get the Zipf tail of the background demand and the sessions of the "
    "control plane on top.",
]


def speech_translation() -> Scenario:
    """The tiny system with seed 000's speech-translation steps as service types (ASR, LLM, TTS)."""
    base = synthetic_scenario(
        "speech-translation",
        n_cells=3,
        n_services=6,
        offered_load=0.5,
        seed=7,
        description=(
            "Seed 000's speech translation (ASR on the phone, LLM translation and TTS in the "
            "network) on a small system of the case-study shape; the default of `cnc6g serve`."
        ),
        notes=[*COMMON_NOTES, *TRANSLATION_NOTES],
    )
    terminal, ran, transport = DomainKind.TERMINAL, DomainKind.RAN, DomainKind.TRANSPORT
    steps = [
        ServiceType(
            name="asr",
            compute_gcycles=0.6,
            input_mbit=0.256,
            output_mbit=0.002,
            memory_gb=0.5,
            instance_power_w=5.0,
            instantiation_energy_j=20.0,
            cold_start_ms=200.0,
            deadline_ms=300.0,
            tiers=[terminal, ran, transport],
        ),
        ServiceType(
            name="llm-translate",
            compute_gcycles=6.0,
            input_mbit=0.002,
            output_mbit=0.002,
            memory_gb=16.0,
            instance_power_w=40.0,
            instantiation_energy_j=400.0,
            cold_start_ms=800.0,
            deadline_ms=400.0,
            tiers=[ran, transport],
            processors=[ProcessorKind.GPU],
        ),
        ServiceType(
            name="tts",
            compute_gcycles=1.2,
            input_mbit=0.002,
            output_mbit=0.256,
            memory_gb=2.0,
            instance_power_w=10.0,
            instantiation_energy_j=60.0,
            cold_start_ms=300.0,
            deadline_ms=300.0,
            tiers=[ran, transport],
        ),
    ]
    return base.model_copy(update={"services": [*base.services, *steps]})


BUILDERS: dict[str, Callable[[], Scenario]] = {
    "paper-case-study": paper_case_study,
    "paper-case-study-38901": paper_case_study_radio,
    "paper-case-study-calibrated": paper_case_study_calibrated,
    "paper-case-study-calibrated-bursty": paper_case_study_calibrated_bursty,
    "tiny": tiny,
    "scale-100": scale_100,
    "scale-1000": scale_1000,
    "speech-translation": speech_translation,
    "xr-offload": xr_offload,
    "env-sensing": env_sensing,
    "windfarm-assistant": windfarm_assistant,
}


def main(argv: list[str]) -> None:
    """Write every preset as TOML into the folder ``argv[0]``."""
    out = Path(argv[0]) if argv else Path(__file__).parent / "presets"
    for name, build in BUILDERS.items():
        (out / f"{name}.toml").write_text(dump_scenario(build()), encoding="utf-8")


if __name__ == "__main__":
    main(sys.argv[1:])
