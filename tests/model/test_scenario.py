import copy
import tomllib

import pytest

from cnc6g.model import Scenario
from cnc6g.scenarios import (
    ScenarioError,
    list_presets,
    load_scenario,
    parse_scenario,
    preset_text,
)
from cnc6g.twin import compile_scenario

BASE = {
    "name": "mini",
    "domains": [
        {
            "name": "T",
            "kind": "terminal",
            "nodes": [
                {
                    "name": "T-dev",
                    "capacity_gcps": 4.0,
                    "memory_gb": 2.0,
                    "idle_power_w": 0.0,
                    "peak_power_w": 6.0,
                }
            ],
        },
        {
            "name": "R",
            "kind": "ran",
            "nodes": [
                {
                    "name": "R-mec",
                    "capacity_gcps": 20.0,
                    "memory_gb": 16.0,
                    "idle_power_w": 100.0,
                    "peak_power_w": 200.0,
                    "sleep_power_w": 10.0,
                }
            ],
        },
        {
            "name": "X",
            "kind": "transport",
            "nodes": [
                {
                    "name": "X-dc",
                    "capacity_gcps": 100.0,
                    "memory_gb": 64.0,
                    "idle_power_w": 300.0,
                    "peak_power_w": 600.0,
                }
            ],
        },
    ],
    "radio_links": [
        {"terminal": "T", "ran": "R", "uplink_mhz": 10.0, "downlink_mhz": 20.0, "mean_snr_db": 20.0}
    ],
    "wired_links": [{"a": "R", "b": "X", "bandwidth_gbps": 1.0, "delay_ms": 2.0}],
    "services": [
        {
            "name": "a",
            "compute_gcycles": 0.5,
            "input_mbit": 0.8,
            "memory_gb": 1.0,
            "deadline_ms": 200.0,
        }
    ],
    "workload": {"requests_per_slot": [10, 20]},
}


def problems_of(change):
    data = copy.deepcopy(BASE)
    change(data)
    with pytest.raises(ScenarioError) as err:
        parse_scenario(data, "test")
    return "\n".join(err.value.problems)


def test_base_is_valid():
    scenario = parse_scenario(copy.deepcopy(BASE))
    assert isinstance(scenario, Scenario)
    assert scenario.workload.requests_per_slot == (10, 20)
    compile_scenario(scenario)


def test_negative_deadline_names_the_field():
    text = problems_of(lambda d: d["services"][0].update(deadline_ms=-5.0))
    assert "services[a].deadline_ms" in text
    assert "greater than 0" in text


def test_zero_capacity_names_the_field():
    text = problems_of(lambda d: d["domains"][2]["nodes"][0].update(capacity_gcps=0.0))
    assert "domains[X].nodes[X-dc].capacity_gcps" in text


def test_peak_below_idle_power_names_the_node():
    text = problems_of(lambda d: d["domains"][1]["nodes"][0].update(peak_power_w=50.0))
    assert "domains[R].nodes[R-mec]" in text
    assert "peak_power_w (50.0) must not be below idle_power_w (100.0)" in text


def test_duplicate_node_names_are_named():
    text = problems_of(lambda d: d["domains"][2]["nodes"][0].update(name="R-mec"))
    assert "domains[].nodes: names must be unique" in text
    assert "R-mec" in text


def test_duplicate_service_names_are_named():
    text = problems_of(lambda d: d["services"].append(dict(d["services"][0])))
    assert "services: names must be unique, repeated: ['a']" in text


def test_wired_link_to_an_unknown_domain():
    text = problems_of(lambda d: d["wired_links"][0].update(b="Q"))
    assert "wired_links[0].b: unknown domain 'Q'" in text


def test_wired_link_to_a_terminal_domain():
    text = problems_of(lambda d: d["wired_links"].append(dict(d["wired_links"][0], a="T")))
    assert "wired_links[1].a: 'T' is a terminal domain" in text


def test_radio_link_to_a_non_ran_domain():
    text = problems_of(lambda d: d["radio_links"][0].update(ran="X"))
    assert "radio_links[0].ran: 'X' is not a RAN domain" in text


def _add_terminal(data):
    data["domains"].append(
        {"name": "T2", "kind": "terminal", "nodes": [dict(data["domains"][0]["nodes"][0])]}
    )
    data["domains"][-1]["nodes"][0]["name"] = "T2-dev"


def test_terminal_domain_without_radio_link():
    text = problems_of(_add_terminal)
    assert "terminal domain 'T2' needs exactly one radio link, has 0" in text


def test_terminal_domain_with_two_radio_links():
    text = problems_of(lambda d: d["radio_links"].append(dict(d["radio_links"][0])))
    assert "terminal domain 'T' needs exactly one radio link, has 2" in text


def test_no_radio_link_at_all():
    text = problems_of(lambda d: d.update(radio_links=[]))
    assert "radio_links" in text


def test_disconnected_ran_domain():
    def change(data):
        node = dict(data["domains"][1]["nodes"][0], name="R2-mec")
        data["domains"].append({"name": "R2", "kind": "ran", "nodes": [node]})

    text = problems_of(change)
    assert "wired_links: domains ['R2'] are not connected to 'R'" in text


def test_workflow_with_a_cycle_names_the_cycle():
    def change(data):
        svc = data["services"][0]
        del svc["compute_gcycles"]
        svc["workflow"] = {
            "stages": [
                {"name": "detect", "compute_gcycles": 0.2, "after": ["track"]},
                {"name": "track", "compute_gcycles": 0.3, "after": ["detect"]},
            ]
        }

    text = problems_of(change)
    assert "services[a].workflow: workflow has a cycle" in text
    assert "detect -> track -> detect" in text or "track -> detect -> track" in text


def test_workflow_with_unknown_stage():
    def change(data):
        del data["services"][0]["compute_gcycles"]
        data["services"][0]["workflow"] = {
            "stages": [{"name": "x", "compute_gcycles": 0.2, "after": ["ghost"]}]
        }

    text = problems_of(change)
    assert "services[a].workflow" in text
    assert "'ghost'" in text


def test_workflow_compute_mismatch():
    def change(data):
        data["services"][0]["workflow"] = {
            "stages": [
                {"name": "x", "compute_gcycles": 0.2},
                {"name": "y", "compute_gcycles": 0.4, "after": ["x"]},
            ]
        }

    text = problems_of(change)
    assert "services[a]" in text
    assert "differs from the workflow's total" in text


def test_compute_is_derived_from_the_workflow():
    data = copy.deepcopy(BASE)
    del data["services"][0]["compute_gcycles"]
    data["services"][0]["workflow"] = {
        "stages": [
            {"name": "x", "compute_gcycles": 0.25},
            {"name": "y", "compute_gcycles": 0.5, "after": ["x"]},
            {"name": "z", "compute_gcycles": 0.125, "after": ["x"]},
        ]
    }
    scenario = parse_scenario(data)
    assert scenario.services[0].compute_gcycles == pytest.approx(0.875)
    assert compile_scenario(scenario).work.tolist() == pytest.approx([0.875])


def test_service_without_compute_or_workflow():
    text = problems_of(lambda d: d["services"][0].pop("compute_gcycles"))
    assert "services[a]: give compute_gcycles or a workflow" in text


@pytest.mark.parametrize(
    "workload",
    [{"requests_per_slot": [1, 2], "offered_load": 0.5}, {}],
    ids=["both", "neither"],
)
def test_workload_needs_exactly_one_volume(workload):
    text = problems_of(lambda d: d.update(workload=workload))
    assert "workload: give exactly one of requests_per_slot and offered_load" in text


def test_request_range_must_be_ordered():
    text = problems_of(lambda d: d["workload"].update(requests_per_slot=[5, 2]))
    assert "workload: requests_per_slot must satisfy 0 <= low <= high" in text


def test_popularity_must_list_every_service():
    text = problems_of(lambda d: d["workload"].update(popularity=["a", "zz"]))
    assert "workload.popularity" in text
    assert "unknown ['zz']" in text


def test_origin_weights_must_name_terminal_domains():
    text = problems_of(lambda d: d["workload"].update(origin_weights={"R": 1.0}))
    assert "workload.origin_weights: not terminal domains: ['R']" in text


def test_hotspots_must_be_in_slot_order():
    shifts = [
        {"slot": 5, "reshuffle_popularity": True},
        {"slot": 2, "reshuffle_popularity": True},
    ]
    text = problems_of(lambda d: d["workload"].update(hotspots=shifts))
    assert "hotspots must be in increasing slot order" in text


@pytest.mark.parametrize(
    ("where", "path"),
    [
        (lambda d: d, "colour"),
        (lambda d: d["services"][0], "services[a].colour"),
        (lambda d: d["domains"][1]["nodes"][0], "domains[R].nodes[R-mec].colour"),
        (lambda d: d["workload"], "workload.colour"),
    ],
    ids=["scenario", "service", "node", "workload"],
)
def test_unknown_field_is_rejected(where, path):
    text = problems_of(lambda d: where(d).update(colour="red"))
    assert f"{path}: Extra inputs are not permitted" in text


def test_every_problem_is_reported_at_once():
    def change(data):
        data["services"][0]["deadline_ms"] = -1.0
        data["domains"][0]["nodes"][0]["memory_gb"] = 0.0

    text = problems_of(change)
    assert "services[a].deadline_ms" in text
    assert "domains[T].nodes[T-dev].memory_gb" in text


def test_cross_field_problems_are_one_line_each():
    def change(data):
        data["wired_links"][0]["b"] = "Q"
        data["radio_links"][0]["ran"] = "X"

    data = copy.deepcopy(BASE)
    change(data)
    with pytest.raises(ScenarioError) as err:
        parse_scenario(data)
    problems = err.value.problems
    assert any(p.startswith("wired_links[0].b: unknown domain") for p in problems)
    assert any(p.startswith("radio_links[0].ran: ") for p in problems)


def test_error_message_lists_the_source_and_problems():
    data = copy.deepcopy(BASE)
    data["services"][0]["deadline_ms"] = -1.0
    with pytest.raises(ScenarioError, match=r"services\[a\]\.deadline_ms") as err:
        parse_scenario(data, "my.toml")
    assert err.value.source == "my.toml"
    assert str(err.value).startswith("invalid scenario my.toml:")


def test_toml_syntax_error_reports_the_line(tmp_path):
    path = tmp_path / "bad.toml"
    path.write_text('name = "x"\n\n[workload\nrequests_per_slot = [1, 2]\n', encoding="utf-8")
    with pytest.raises(ScenarioError) as err:
        load_scenario(path)
    (problem,) = err.value.problems
    assert problem.startswith("TOML syntax")
    assert "line 3" in problem


def test_invalid_file_names_the_field(tmp_path):
    path = tmp_path / "neg.toml"
    text = preset_text("tiny").replace("deadline_ms = 419.553", "deadline_ms = -419.553")
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ScenarioError) as err:
        load_scenario(path)
    assert any(p.startswith("services[svc00].deadline_ms") for p in err.value.problems)
    assert err.value.source == str(path)


def test_unknown_preset_lists_the_presets():
    with pytest.raises(ScenarioError) as err:
        load_scenario("no-such-preset")
    (problem,) = err.value.problems
    for name in list_presets():
        assert name in problem


def test_preset_text_of_unknown_preset_lists_the_presets():
    with pytest.raises(ScenarioError, match="no preset called 'nope'") as err:
        preset_text("nope")
    assert all(name in err.value.problems[0] for name in list_presets())


def test_the_shipped_presets_are_listed():
    assert {"tiny", "paper-case-study", "scale-100"} <= set(list_presets())


@pytest.mark.parametrize("name", list_presets())
def test_every_preset_loads_and_compiles(name):
    scenario = load_scenario(name)
    assert scenario.name == name
    system = compile_scenario(scenario)
    assert system.n_origins >= 1
    assert system.n_services == len(scenario.services)
    assert system.can_host.any(axis=1).all()
    assert system.admissible.any(axis=2).all()


def test_a_startup_sets_the_cold_start_time_and_energy_and_round_trips():
    from cnc6g.model.services import ServiceType
    from cnc6g.scenarios import dump_scenario, parse_scenario
    from cnc6g.twin import compile_scenario

    svc = ServiceType(
        name="llm",
        compute_gcycles=50.0,
        input_mbit=0.1,
        memory_gb=16.0,
        deadline_ms=2000.0,
        startup={
            "container_ms": 800.0,
            "model_gb": 14.0,
            "load_gbps": 16.0,
            "init_ms": 1200.0,
            "power_w": 300.0,
        },
    )
    # 0.8 s + 14 GB x 8 / 16 Gbit/s + 1.2 s = 9 s; 300 W for 9 s = 2,700 J
    assert svc.cold_start_ms == pytest.approx(9000.0)
    assert svc.instantiation_energy_j == pytest.approx(2700.0)
    sc = load_scenario("tiny")
    data = sc.model_dump()
    data["services"][0] = svc.model_dump()
    again = parse_scenario(tomllib.loads(dump_scenario(type(sc).model_validate(data))))
    assert again.services[0].startup == svc.startup
    system = compile_scenario(again)
    assert system.cold_start_s[0] == pytest.approx(9.0)
    assert system.instantiation_energy[0] == pytest.approx(2700.0)
    with pytest.raises(ValueError, match=r"cold_start_ms .* differs from the startup"):
        ServiceType(**{**svc.model_dump(), "cold_start_ms": 100.0})


@pytest.mark.parametrize("field", ["input_cv", "output_cv"])
def test_data_size_cv_must_be_a_finite_non_negative_number(field):
    data = copy.deepcopy(BASE)
    assert Scenario.model_validate(data).services[0].model_dump()[field] == 0.0
    for bad, reason in ((-0.1, "greater than or equal to 0"), (float("inf"), "finite")):
        data["services"][0][field] = bad
        with pytest.raises(ScenarioError) as err:
            parse_scenario(data)
        assert any(
            p.startswith(f"services[a].{field}") and reason in p for p in err.value.problems
        ), err.value.problems
    data["services"][0][field] = 2.15
    assert getattr(parse_scenario(data).services[0], field) == 2.15
