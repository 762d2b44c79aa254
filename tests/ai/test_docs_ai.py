"""The native-AI page shows its example as it is and what it prints."""

import runpy
from pathlib import Path

ROOT = Path(__file__).parent.parent.parent
EXAMPLE = ROOT / "docs" / "examples" / "split_inference.py"
PAGE = ROOT / "docs" / "native-ai.md"


def test_the_example_runs_and_the_page_shows_it_and_its_output(capsys):
    runpy.run_path(str(EXAMPLE), run_name="__main__")
    printed = capsys.readouterr().out.strip()
    page = PAGE.read_text()
    assert EXAMPLE.read_text().strip() in page
    assert printed in page


def test_the_page_is_in_the_site_navigation():
    assert "native-ai.md" in (ROOT / "mkdocs.yml").read_text()
