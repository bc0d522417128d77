"""The registry: every regime answers for every kind of request, and says only its own law."""

from __future__ import annotations

import re
from datetime import date
from pathlib import Path

import pytest

from portal.jurisdictions import KINDS, REGIMES, Regime, RequestKind, RequestType, kind, regime_for
from portal.jurisdictions.registry import EEA_COUNTRIES, all_ground_codes, sharing_authorities
from portal.rights.deadlines import deadline_for

PORTAL = Path(__file__).resolve().parents[2] / "portal"
CATEGORIES = ("input_events", "app_activity", "screenshots", "ai_training_use")
# What each regime's texts may cite, and the laws of the others, which they must not.
OWN = {"ES": ("GDPR", "LOPDGDD", "Reg. 1182/71", "Estatuto"), "EU": ("GDPR", "Reg. 1182/71"),
       "US-CA": ("Cal. Civ. Code", "CCR", "CCPA"), "CO": ("Ley 1581", "Decreto 1377"), "BR": ("LGPD", "Código Civil"),
       "default": ()}
FOREIGN = {"GDPR": ("US-CA", "CO", "BR"), "Cal. Civ. Code": ("ES", "EU", "CO", "BR", "default"),
           "CCR": ("ES", "EU", "CO", "BR", "default"), "Ley 1581": ("ES", "EU", "US-CA", "BR", "default"),
           "Decreto 1377": ("ES", "EU", "US-CA", "BR", "default"), "LGPD": ("ES", "EU", "US-CA", "CO", "default"),
           "LOPDGDD": ("EU", "US-CA", "CO", "BR", "default")}
RECEIVED = date(2026, 5, 4)


@pytest.mark.parametrize("kind_", KINDS, ids=lambda k: k.value)
@pytest.mark.parametrize("regime", REGIMES, ids=lambda r: r.key)
def test_every_regime_answers_for_every_kind(regime: Regime, kind_: RequestKind) -> None:
    rule = regime.rule(kind_.type)
    assert rule.basis and rule.name
    due = rule.due(RECEIVED, regime.calendar)
    assert due > RECEIVED
    extended = rule.extended_due(RECEIVED, regime.calendar)
    assert extended is None or extended > due
    assert (extended is None) == (rule.extension is None) == (rule.extension_text == "")
    grounds = regime.grounds_for(kind_.type)
    assert grounds and grounds[-1].code == "other", "a refusal always has a ground, 'other' last"
    assert len({g.code for g in grounds}) == len(grounds)
    assert all(len(g.code) <= 24 and re.fullmatch(r"[a-z0-9-]+", g.code) for g in grounds)
    texts = [rule.basis, rule.extension_basis, rule.roll_basis, rule.acknowledge_basis, regime.right(kind_.type),
             *(g.label for g in grounds)]
    for law, not_in in FOREIGN.items():
        if regime.key in not_in:
            assert not any(law in text for text in texts), f"{regime.key} cites {law}"
    if regime.key != "default":
        assert any(own in regime.right(kind_.type) for own in OWN[regime.key])
    assert kind_.employee_label and kind_.staff_label and kind_.right_name and kind_.explanation
    # The portal shows the same dates as the registry's rule, for each of the regime's codes.
    for code in sorted(regime.codes | regime.countries)[:3]:
        assert deadline_for(code, kind_.type, RECEIVED).due == due


@pytest.mark.parametrize("regime", REGIMES, ids=lambda r: r.key)
def test_every_regime_names_its_law_authority_bases_and_clocks(regime: Regime) -> None:
    assert regime.complaint_to()
    assert "%(authority)s" in regime.complain_text
    assert regime.breach.basis and regime.breach.persons
    if regime.key == "default":
        assert regime.law is None and regime.authority is None and not regime.legal_bases
        return
    assert regime.law
    assert set(regime.legal_bases) == set(CATEGORIES)
    for text in regime.legal_bases.values():
        assert any(own in text for own in OWN[regime.key]), text
    assert (regime.authority is None) == (regime.key == "EU")
    for code in regime.codes | regime.countries:
        assert regime_for(code) is regime
        assert regime_for(code.lower()) is regime
        if "-" not in code:
            assert regime_for(f"{code}-XX") is regime  # any subdivision of the country


@pytest.mark.parametrize(("key", "first"), [("CO", "Ley 1581 Art. 16"), ("BR", "LGPD Art. 55-J(V)"), ("ES", None),
                                            ("EU", None), ("US-CA", None), ("default", None)])
def test_who_must_ask_the_controller_before_complaining(key: str, first: str | None) -> None:
    regime = next(r for r in REGIMES if r.key == key)
    assert regime.complain_first == first
    assert (first is not None) == ("only once you have first" in regime.complain_text)
    if first:
        assert first in regime.complain_text
    else:
        assert "only once" not in regime.complain_text


def test_one_eea_list_with_the_outermost_regions() -> None:
    assert {"RE", "GP", "MQ", "GF", "YT", "MF", "AX", "IS", "LI", "NO", "EL", "GR"} <= EEA_COUNTRIES
    for code in ("RE", "FR", "DE", "NO", "AX"):
        assert regime_for(code).key == "EU" and regime_for(code).law == "the GDPR"
    assert regime_for("ES").key == regime_for("ES-CN").key == regime_for("IC").key == "ES"
    for code in ("GB", "CH", "US", "US-NY", "JP", "", "x"):
        assert regime_for(code).key == "default"


def test_no_other_list_of_authorities_countries_or_grounds_in_the_code() -> None:
    """Knowledge that varies by country lives in portal/jurisdictions only."""
    needles = ("Agencia Española", "California Privacy Protection Agency", "Superintendencia de Industria",
               "Autoridade Nacional", '"NO", "PL"', '"RE", "YT"', "1798.105(d)", "Ley 1581 Art. 10", "Art. 17(3)(b)")
    for path in PORTAL.rglob("*.py"):
        if "jurisdictions" in path.parts or "demo" in path.parts:  # the demo's DPO may cite the law in prose
            continue
        text = path.read_text(encoding="utf-8")
        found = [n for n in needles if n in text]
        assert not found, f"{path.relative_to(PORTAL.parent)} holds {found}"


def test_colombia_refusal_cites_decreto_1377_art_9_not_ley_1581_art_10() -> None:
    duty = regime_for("CO").ground("co-1377-9")
    assert duty is not None
    assert duty.citation == "Decreto 1377 de 2013 Art. 9 (DUR 1074 de 2015 art. 2.2.2.25.2.8)"
    assert all("Ley 1581 Art. 10" not in g.label for r in REGIMES for g in r.grounds)


def test_california_and_brazil_grounds() -> None:
    ca = {g.code: g for g in regime_for("US-CA").grounds}
    assert ca["ccpa-verify"].citation == "11 CCR §§7060-7062"
    assert RequestType.OBJECTION not in ca["ccpa-verify"].kinds  # a request to limit needs no verification
    assert ca["ccpa-1798-105-d"].kinds == frozenset({RequestType.ERASURE})
    assert ca["ccpa-1798-145-a"].citation.startswith("Cal. Civ. Code §1798.145")
    br = {g.code: g.citation for g in regime_for("BR").grounds}
    assert br["lgpd-16"] == "LGPD Art. 16" and br["lgpd-18-4-ii"].startswith("LGPD Art. 18 §4")


def test_kinds_and_report_columns() -> None:
    assert [k.type for k in KINDS] == list(RequestType)
    assert kind("objection").cpra.value == kind("restriction").cpra.value == "request to limit"
    assert kind("access").cpra == kind("portability").cpra
    codes = all_ground_codes()
    assert codes[-1] == "other" and len(codes) == len(set(codes))
    assert [c for c, _ in sharing_authorities()] == ["aepd", "cppa", "sic", "anpd", "other-eu", "other"]


def test_staff_read_one_set_of_labels() -> None:
    """The case pages, the queue, the staff e-mails and the reports label states and kinds alike."""
    from portal.reports import metrics
    from portal.rights import services
    from portal.rights.views import staff as staff_pages

    assert {s.value: label for s, label in services.STAFF_STATE_LABELS.items()} == staff_pages.STAFF_STATE_LABELS
    assert {k.value: k.staff_label for k in KINDS} == staff_pages.TYPE_NAMES
    assert {k: v for k, v in metrics.TYPE_NAMES.items() if k != "total"} == staff_pages.TYPE_NAMES
    assert services.STAFF_STATE_LABELS[services.S.REJECTED] == "Refused"
    root = PORTAL.parent
    for path in [*PORTAL.rglob("*.py"), *(root / "templates").rglob("*.html"), *(root / "templates").rglob("*.txt")]:
        text = path.read_text(encoding="utf-8")
        assert '"Rejected"' not in text and "Fulfilment failed\")" not in text, path
