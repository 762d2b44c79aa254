"""The knowledge base on disk: written atomically, read back as it was."""

import pytest

from cnc6g.policies.knowledge import KnowledgeBase
from cnc6g.storage.knowledge import load_knowledge, save_knowledge


def _base():
    kb = KnowledgeBase(quantile=0.9)
    for i in range(50):
        kb.observe("svc", compute_gcycles=1.0 + 0.01 * i, bandwidth_mbit=0.5)
    return kb


def test_a_saved_base_loads_back_equal(tmp_path):
    kb = _base()
    path = save_knowledge(kb, tmp_path / "deep" / "kb.json")
    back = load_knowledge(path)
    assert back.to_dict() == kb.to_dict()
    assert back.provision("svc", "compute_gcycles") == kb.provision("svc", "compute_gcycles")
    assert [p.name for p in path.parent.iterdir()] == ["kb.json"]  # no temporary file left


def test_saving_again_replaces_the_file(tmp_path):
    path = tmp_path / "kb.json"
    save_knowledge(KnowledgeBase(), path)
    kb = _base()
    save_knowledge(kb, path)
    assert load_knowledge(path).to_dict() == kb.to_dict()


def test_a_missing_file_gives_the_default_and_a_bad_one_an_error(tmp_path):
    assert load_knowledge(tmp_path / "none.json").services == {}
    default = _base()
    assert load_knowledge(tmp_path / "none.json", default) is default
    bad = tmp_path / "bad.json"
    bad.write_text("{not json", encoding="utf-8")
    with pytest.raises(ValueError, match="not a knowledge base"):
        load_knowledge(bad)
