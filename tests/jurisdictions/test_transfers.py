"""Transfers per register category (GDPR Art. 15(1)(c) and (2), 30(1)(e), 44 to 46): the register
holds each recipient's country and safeguard; the dashboard, the export's report.pdf and index.html
show them; the safeguards are named only to people under the GDPR."""

from __future__ import annotations

import pytest
from flask import Flask
from flask.testing import FlaskClient

from portal.exports.index_page import render_index
from portal.jurisdictions.transfers import TransferError, read
from tests.exports.test_report import pdf_text, sample_summary
from tests.monitoring.test_dashboard import page, section, signed_in, text_of

DEMO = [{"recipient": "Cloud hosting provider (processor)", "destination": "IE", "safeguard": "none"},
        {"recipient": "AI Research", "destination": "US", "safeguard": "dpf"}]


def test_a_transfer_entry_must_be_lawful_on_its_face() -> None:
    """Art. 44: a transfer to a country outside the EU/EEA needs an adequacy decision (Art. 45; the
    EU-US Data Privacy Framework is one for certified recipients) or appropriate safeguards such as
    standard contractual clauses (Art. 46(2)(c)); "none" is therefore only for a recipient inside
    the EU/EEA, and a safeguard named for one inside it would claim a transfer that is not one."""
    assert [t.safeguard.code for t in read(DEMO)] == ["none", "dpf"]
    for bad in ({"recipient": "x", "destination": "US", "safeguard": "none"},
                {"recipient": "x", "destination": "DE", "safeguard": "sccs"},
                {"recipient": "x", "destination": "US", "safeguard": "bcr-maybe"},
                {"recipient": "x", "destination": "USA", "safeguard": "dpf"}):
        with pytest.raises(TransferError):
            read([bad])


@pytest.mark.parametrize(("sub", "safeguards"), [("alice@example.com", True), ("bob@example.com", False)])
def test_the_dashboard_says_where_each_recipient_receives_the_data(client: FlaskClient, app: Flask, sub: str,
                                                                   safeguards: bool) -> None:
    """Art. 15(1)(c) (the recipients, "in particular recipients in third countries") and 15(2) (the
    appropriate safeguards of Art. 46 for a transfer) for alice, under the GDPR: the country and the
    safeguard of each transfer, from the register (migration 0023). Bob is under the CCPA, which
    asks for no transfer safeguard: he is told the countries, and no EU instrument is presented as
    his protection."""
    with app.app_context():
        signed_in(client, sub)
    html = page(client)
    card = text_of(section(html, "category-ai_training_use"))
    assert "AI Research: United States" in card
    assert "Model governance board: United Kingdom" in card
    assert ("Safeguard: The EU-US Data Privacy Framework: the recipient is certified under it (GDPR Art. 45; "
            "Commission Implementing Decision (EU) 2023/1795)" in card) is safeguards
    assert ("Safeguard: An adequacy decision" in card) is safeguards
    inputs = text_of(section(html, "category-input_events"))
    assert "Cloud hosting provider (processor): Ireland" in inputs
    assert ("Safeguard: No transfer outside the EU/EEA (GDPR Art. 44)" in inputs) is safeguards
    rights = text_of(section(html, "right-recipients"))
    assert ("GDPR Art. 15(1)(c) and (2)" in rights) is safeguards
    assert "the country where each recipient receives it" in rights


def test_the_exports_report_and_index_show_the_transfers(app: Flask) -> None:
    """The copy answers Art. 15 too: its report.pdf and index.html carry each category's transfers
    as the register held them when the copy was made."""
    summary = sample_summary()
    summary.categories[0].transfers = DEMO
    with app.app_context():
        text, _reader = pdf_text(summary)
        index = render_index(summary).decode("utf-8")
    assert "AI Research: United States. Safeguard: The EU-US Data Privacy Framework" in text
    assert "Where they receive it" in text
    assert "Cloud hosting provider (processor): Ireland. Safeguard: No transfer outside the EU/EEA" in text_of(index)
