"""The scenario family HMARL's size-free agents train on, and the variants held out of it."""

import numpy as np
import pytest

from cnc6g.scenarios import load_scenario
from cnc6g.scenarios.family import FAMILIES, HELD_OUT, Variant, family
from cnc6g.twin import compile_scenario


def test_draws_are_seeded_and_stay_in_the_family_ranges():
    fam = family("case-study")
    draws = [fam.draw((0, ep)) for ep in range(40)]
    assert draws == [fam.draw((0, ep)) for ep in range(40)]
    assert len({(v.n_cells, v.zipf) for v in draws}) > 20
    for v in draws:
        assert v.n_cells in fam.cells
        assert v.n_services in fam.services
        assert fam.zipf[0] <= v.zipf <= fam.zipf[1]
        assert fam.mec_idle[0] <= v.mec_idle <= fam.mec_idle[1]
    assert any(v.hotspots for v in draws)
    assert not all(v.hotspots for v in draws)


def test_held_out_cell_counts_are_never_drawn_and_one_is_larger_than_any():
    trained = {n for fam in FAMILIES.values() for n in fam.cells}
    held = {v.n_cells for v in HELD_OUT.values()}
    assert not held & trained
    assert max(held) > max(trained)
    assert min(held) < min(trained)


def test_the_held_out_case_study_is_the_case_study():
    a = HELD_OUT["held-case-study"].scenario(0.8).model_dump()
    b = load_scenario("paper-case-study").model_dump()
    assert {k for k in a if a[k] != b[k]} == {"name", "description", "notes"}


def test_a_variant_changes_what_it_names():
    base = compile_scenario(Variant("base", n_cells=4).scenario(0.8))
    v = Variant("v", n_cells=4, mec_capacity=0.5, mec_idle=2.0, zipf=0.8, hotspots=(2,))
    sc = v.scenario(0.8)
    sy = compile_scenario(sc)
    ran = np.array([k == "ran" for k in sy.node_domain_kind])
    np.testing.assert_allclose(sy.capacity[ran], 0.5 * base.capacity[ran])
    np.testing.assert_allclose(sy.idle_power[ran], 2.0 * base.idle_power[ran])
    np.testing.assert_allclose(sy.capacity[~ran], base.capacity[~ran])
    assert sc.workload.zipf_exponent == 0.8
    assert sc.workload.origin_weights == {"T0": 1.0, "T1": 1.0, "T2": 3.0, "T3": 1.0}


@pytest.mark.parametrize(
    ("kwargs", "words"),
    [
        ({"n_cells": 0}, "n_cells"),
        ({"mec_capacity": 0.0}, "capacity"),
        ({"n_cells": 4, "hotspots": (5,)}, "hotspots"),
    ],
)
def test_bad_variants_name_the_field(kwargs, words):
    with pytest.raises(ValueError, match=words):
        Variant("bad", **kwargs)


def test_an_unknown_family_lists_the_known_ones():
    with pytest.raises(ValueError, match="case-study"):
        family("nope")
