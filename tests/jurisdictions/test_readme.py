"""The README's regime tables are the registry's, as generated (python -m portal.jurisdictions.readme)."""

from __future__ import annotations

from pathlib import Path

from portal.jurisdictions import REGIMES
from portal.jurisdictions.readme import END, START, block

README = Path(__file__).resolve().parents[2] / "README.md"


def test_the_readme_and_the_registry_agree() -> None:
    text = README.read_text(encoding="utf-8")
    shown = text[text.index(START): text.index(END) + len(END)]
    assert shown == block(), "run: python -m portal.jurisdictions.readme README.md"
    for regime in REGIMES:
        assert f"| {regime.name} |" in shown
        if regime.authority:
            assert regime.authority.complaint_url in shown
        for ground in regime.grounds:
            assert f"`{ground.code}`" in shown
