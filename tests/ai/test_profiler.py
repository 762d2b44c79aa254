"""The profiler reproduces the shipped tables (needs torch and transformers: the profile extra)."""

import json

import pytest

from cnc6g.ai.profiles import load_table, parse_table

pytest.importorskip("torch")
pytest.importorskip("transformers")

from cnc6g.ai import profiler


def _same_as_shipped(name):
    made = parse_table(profiler.to_json(profiler.profile_model(name)))
    shipped = load_table(name)
    assert made.blocks == shipped.blocks
    assert made.totals == shipped.totals
    assert made.config == shipped.config


def test_a_profile_is_made_without_weights_and_matches_the_shipped_table():
    _same_as_shipped("mobilenetv2")


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(profiler.RECIPES))
def test_every_shipped_table_is_what_the_profiler_makes(name):
    _same_as_shipped(name)


def test_tables_are_written_one_block_per_line():
    table = json.loads(profiler.to_json(load_table("vit-b16").model_dump()))
    text = profiler.to_json(table)
    assert text.count("\n  {") == len(table["blocks"])
    assert json.loads(text) == table
