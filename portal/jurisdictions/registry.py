"""The regimes: one frozen object per body of law the portal answers to, and the only place that
knows what a law says. Pages, e-mails, PDFs, reports and packs ask :func:`regime_for` and read
what they show from the answer; no other list of authorities, countries or grounds exists.

A regime holds which jurisdiction codes it matches, the law's name, the supervisory authority,
the deadline rule per kind of request (on its business-day calendar), the grounds a refusal may
rest on (each with its citation), the legal basis of each category of the register, whether a
person must ask the controller before complaining to the authority, the breach-notification
clocks, and the citations the pages print. The controller is deployment data, not law: see
:func:`portal.jurisdictions.controllers.controller_for`.
"""

from __future__ import annotations

import calendar as _calendar
import enum
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, timedelta
from types import MappingProxyType
from typing import TypeVar

from .calendars import BRAZIL, CALIFORNIA, COLOMBIA, SPAIN, WEEKENDS, Calendar
from .kinds import RequestType

T = RequestType
ALL_KINDS = frozenset(RequestType)


# -- the pieces -------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Authority:
    code: str  # stored where a pack is shared with it
    name: str
    short: str
    country: str
    url: str
    complaint_url: str

    def sentence(self, with_url: bool = True) -> str:
        """For "You may complain to ...": the name, its abbreviation and where to go."""
        return f"the {self.name} ({self.short}), {self.complaint_url}" if with_url else f"the {self.name} ({self.short})"

    def label(self) -> str:
        """For a list to choose from: "AEPD: Agencia ... (Spain)"."""
        return f"{self.short}: {self.name} ({self.country})"


class Unit(enum.StrEnum):
    MONTHS = "months"
    DAYS = "days"
    BUSINESS_DAYS = "business days"


@dataclass(frozen=True)
class Period:
    amount: int
    unit: Unit

    def text(self) -> str:
        unit = str(self.unit)
        return f"1 {unit.removesuffix('s')}" if self.amount == 1 else f"{self.amount} {unit}"

    def after(self, start: date, cal: Calendar) -> date:
        if self.unit is Unit.MONTHS:
            return add_months(start, self.amount)
        if self.unit is Unit.DAYS:
            return start + timedelta(days=self.amount)
        return cal.working_days_after(start, self.amount)


def add_months(start: date, months: int) -> date:
    """Reg. 1182/71 Art. 3(2)(c): the same date ``months`` later, or that month's last day when it
    has no such date (31 January + 1 month = 28 or 29 February)."""
    year, month0 = divmod(start.month - 1 + months, 12)
    year += start.year
    last = _calendar.monthrange(year, month0 + 1)[1]
    return date(year, month0 + 1, min(start.day, last))


@dataclass(frozen=True)
class Timer:
    """A further time limit of a request that the DPO is shown (Ley 1581 Art. 15's)."""

    key: str
    label: str
    period: Period
    basis: str
    counted_from: str = "receipt"  # or "asked": from the day the requester was asked to complete it


@dataclass(frozen=True)
class DeadlineRule:
    """When an answer is due. ``first`` counts from the day of receipt (which never counts itself).
    With ``roll``, a last day that is not a working day of the calendar moves to the next working
    day. The one extension counts from receipt (``extension_from_receipt``: the whole period, as
    GDPR's 3 months) or from the first due date (Colombia's +5 / +8 business days)."""

    name: str  # what the law calls this request: "request to know", "consulta"
    first: Period
    basis: str
    roll: bool = False
    roll_basis: str = ""
    extension: Period | None = None
    extension_from_receipt: bool = False
    extension_text: str = ""  # "2 months"
    extension_basis: str = ""
    acknowledge: Period | None = None
    acknowledge_basis: str = ""
    timers: tuple[Timer, ...] = ()
    note: str = ""

    def due(self, received: date, cal: Calendar) -> date:
        day = self.first.after(received, cal)
        return cal.next_working_day(day) if self.roll else day

    def extended_due(self, received: date, cal: Calendar) -> date | None:
        if self.extension is None:
            return None
        start = received if self.extension_from_receipt else self.first.after(received, cal)
        day = self.extension.after(start, cal)
        return cal.next_working_day(day) if self.roll else day

    def acknowledge_by(self, received: date, cal: Calendar) -> date | None:
        return self.acknowledge.after(received, cal) if self.acknowledge else None


@dataclass(frozen=True)
class Ground:
    """A legal ground for refusing a request (wholly or in part), with its citation."""

    code: str  # stored on the request (data_requests.legal_basis, at most 24 characters)
    citation: str
    text: str
    kinds: frozenset[RequestType] = ALL_KINDS

    @property
    def label(self) -> str:
        return f"{self.citation}: {self.text}" if self.citation else self.text


@dataclass(frozen=True)
class BreachClock:
    authority: str  # when the authority must be told, or "" when the regime does not require it
    authority_hours: int | None  # the same as a number, where it is one
    persons: str
    basis: str


@dataclass(frozen=True)
class Regime:
    key: str
    name: str  # stored on each request (data_requests.regime): "LOPDGDD/GDPR", "CCPA/CPRA", ...
    law: str | None  # for a sentence: "Under %(law)s you have a right ..."
    countries: frozenset[str]  # ISO 3166 country codes it matches (with any subdivision)
    codes: frozenset[str]  # full codes it matches ("US-CA"), before countries are tried
    authority: Authority | None
    authority_fallback: str  # who to complain to when no one authority is named
    authority_list_url: str
    calendar: Calendar
    deadlines: Mapping[RequestType, DeadlineRule]
    grounds: tuple[Ground, ...]
    rights: Mapping[RequestType, str]  # the article that gives each right
    legal_bases: Mapping[str, str]  # register category key -> its legal basis under this law
    complain_first: str | None  # the citation when a person must ask the controller first
    complain_text: str  # the dashboard's sentence about complaining (with %(authority)s)
    breach: BreachClock
    citations: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))  # wording keys
    gdpr: bool = False
    # register category key -> the law's own name for that category, shown beside the register's
    category_names: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    language: str = "en"  # the language people under this regime read by default (a catalogue's name)
    # Its requests are counted in the CPRA metrics (11 CCR §7102(a)), each as its kind's CPRA
    # request (``RequestKind.cpra``): only requests of California consumers are CPRA requests.
    cpra_metrics: bool = False
    # What an erasure rests on, one chosen by the DPO at approval and shown on the certificate and
    # in the evidence pack (GDPR Art. 17(1)'s letters, or the regime's own articles).
    erasure_grounds: tuple[Ground, ...] = ()

    def rule(self, kind: RequestType | str) -> DeadlineRule:
        return self.deadlines[RequestType(kind)]

    def grounds_for(self, kind: RequestType | str) -> tuple[Ground, ...]:
        """The grounds a refusal of a request of ``kind`` may rest on under this regime."""
        wanted = RequestType(kind)
        return tuple(g for g in self.grounds if wanted in g.kinds)

    def ground(self, code: str | None) -> Ground | None:
        return next((g for g in self.grounds if g.code == code), None)

    def erasure_ground(self, code: str | None) -> Ground | None:
        return next((g for g in self.erasure_grounds if g.code == code), None)

    def complaint_to(self, with_url: bool = True) -> str:
        """For "You may complain to ...": the authority, or who it is when no one is named; with
        the page to go to unless ``with_url`` is false (a document that must link nowhere)."""
        if self.authority:
            return self.authority.sentence(with_url)
        if with_url and self.authority_list_url:
            return f"{self.authority_fallback} (the list: {self.authority_list_url})"
        return self.authority_fallback

    def right(self, kind: RequestType | str) -> str:
        return self.rights.get(RequestType(kind), "")


K = TypeVar("K")
V = TypeVar("V")


def _frozen(mapping: Mapping[K, V] | Iterable[tuple[K, V]]) -> Mapping[K, V]:
    return MappingProxyType(dict(mapping))


# -- authorities ------------------------------------------------------------------------------------

AEPD = Authority("aepd", "Agencia Española de Protección de Datos", "AEPD", "Spain", "https://www.aepd.es",
                 "https://sedeagpd.gob.es/sede-electronica-web/")
CPPA = Authority("cppa", "California Privacy Protection Agency", "CPPA", "United States, California",
                 "https://cppa.ca.gov", "https://cppa.ca.gov/webapplications/complaint")
SIC = Authority("sic", "Superintendencia de Industria y Comercio", "SIC", "Colombia", "https://www.sic.gov.co",
                "https://www.sic.gov.co")
ANPD = Authority("anpd", "Autoridade Nacional de Proteção de Dados", "ANPD", "Brazil", "https://www.gov.br/anpd",
                 "https://www.gov.br/anpd/pt-br/canais_atendimento/cidadao-titular-de-dados/"
                 "peticao-de-titular-contra-controlador-de-dados")
EU_AUTHORITIES_URL = "https://www.edpb.europa.eu/about-edpb/about-edpb/members_en"

# Who else a pack may be shared with: any other EU/EEA supervisory authority, or another one.
OTHER_AUTHORITIES: tuple[tuple[str, str], ...] = (
    ("other-eu", "Another EU/EEA supervisory authority"),
    ("other", "Another authority"),
)


# -- the EU/EEA (GDPR), with Spain's LOPDGDD as a national layer ------------------------------------

# EU member states and the EEA (IS, LI, NO): ISO 3166 codes, and "EL", the EU's code for Greece.
# Åland and France's outermost regions (Guyane, Guadeloupe, Martinique, Réunion, Mayotte,
# Saint-Martin) have ISO codes of their own but are in the EU. The Azores, Madeira and the Canary
# Islands are subdivisions of PT and ES.
EEA_COUNTRIES = frozenset({
    "AT", "BE", "BG", "HR", "CY", "CZ", "DK", "EE", "FI", "FR", "DE", "GR", "EL", "HU", "IE", "IT", "LV", "LT",
    "LU", "MT", "NL", "PL", "PT", "RO", "SK", "SI", "ES", "SE",
    "IS", "LI", "NO",
    "AX", "GF", "GP", "MQ", "RE", "YT", "MF",
})
SPAIN_COUNTRIES = frozenset({"ES", "IC", "EA"})  # IC (Canarias) and EA (Ceuta, Melilla): reserved ISO codes

_GDPR_RULE_BASIS = "GDPR Art. 12(3); Reg. (EEC, Euratom) 1182/71 Art. 3"


def _gdpr_rule(holidays: str, basis: str = _GDPR_RULE_BASIS) -> DeadlineRule:
    return DeadlineRule(
        name="request", first=Period(1, Unit.MONTHS), basis=basis, roll=True,
        roll_basis=f"Reg. 1182/71 Art. 3(4): a last day on a Saturday, Sunday or public holiday ({holidays}) "
                   "moves to the next working day",
        extension=Period(3, Unit.MONTHS), extension_from_receipt=True, extension_text="2 months",
        extension_basis="GDPR Art. 12(3): by two further months (3 months from receipt in all), once, told "
                        "within the first month with the reasons",
    )


def _gdpr_grounds() -> tuple[Ground, ...]:
    return (
        Ground("gdpr-12-5", "GDPR Art. 12(5)(b)", "manifestly unfounded or excessive"),
        Ground("gdpr-15-4", "GDPR Art. 15(4) and 20(4)", "would adversely affect the rights and freedoms of others",
               frozenset({T.ACCESS, T.PORTABILITY})),
        Ground("gdpr-17-3-b", "GDPR Art. 17(3)(b)", "compliance with a legal obligation", frozenset({T.ERASURE})),
        Ground("gdpr-17-3-e", "GDPR Art. 17(3)(e)", "establishment, exercise or defence of legal claims",
               frozenset({T.ERASURE})),
        Ground("gdpr-21-1", "GDPR Art. 21(1)", "compelling legitimate grounds that override the requester's",
               frozenset({T.OBJECTION})),
        Ground("identity", "GDPR Art. 11(2) and 12(6)", "the requester's identity could not be established"),
        Ground("no-data", "GDPR Art. 15(1)", "no personal data of the requester is processed"),
        Ground("other", "", "Other (explained below)"),
    )


# GDPR Art. 17(1): the grounds on which an erasure is owed. (f), data of a child collected for an
# information society service offered to them (Art. 8(1)), is not a ground an employer's
# monitoring can meet, and is left out.
_GDPR_ERASURE = (
    Ground("gdpr-17-1-a", "GDPR Art. 17(1)(a)", "the data is no longer necessary for the purposes it was collected "
                                                "or processed for", frozenset({T.ERASURE})),
    Ground("gdpr-17-1-b", "GDPR Art. 17(1)(b)", "consent was withdrawn and no other legal ground for the processing "
                                                "remains", frozenset({T.ERASURE})),
    Ground("gdpr-17-1-c", "GDPR Art. 17(1)(c)", "an objection under Art. 21(1) with no overriding legitimate "
                                                "grounds, or under Art. 21(2)", frozenset({T.ERASURE})),
    Ground("gdpr-17-1-d", "GDPR Art. 17(1)(d)", "the data was processed unlawfully", frozenset({T.ERASURE})),
    Ground("gdpr-17-1-e", "GDPR Art. 17(1)(e)", "erasure is required by a legal obligation under EU or member-state "
                                                "law", frozenset({T.ERASURE})),
)

_GDPR_RIGHTS = {T.ACCESS: "GDPR Art. 15", T.PORTABILITY: "GDPR Art. 20", T.ERASURE: "GDPR Art. 17",
                T.RECTIFICATION: "GDPR Art. 16", T.RESTRICTION: "GDPR Art. 18", T.OBJECTION: "GDPR Art. 21"}
_GDPR_BASES = {
    "input_events": "Legitimate interests (GDPR Art. 6(1)(f)), balanced against your interests; AI training only "
                    "with consent (Art. 6(1)(a))",
    "app_activity": "Legitimate interests (GDPR Art. 6(1)(f)); AI training only with consent (Art. 6(1)(a))",
    "screenshots": "Consent (GDPR Art. 6(1)(a)); you can withdraw it at any time (Art. 7(3))",
    "ai_training_use": "Consent (GDPR Art. 6(1)(a)); you can withdraw it at any time (Art. 7(3))",
}
_GDPR_CITATIONS = {
    "copy": "GDPR Art. 15(3) and 20", "purposes": "GDPR Art. 15(1)(a) and (b)", "recipients": "GDPR Art. 15(1)(c) and (2)",
    "retention": "GDPR Art. 15(1)(d)", "consent": "GDPR Art. 7(3)", "act": "GDPR Art. 15(1)(e), 16 to 18, 20 and 21",
    "complain": "GDPR Art. 15(1)(f) and 77", "source": "GDPR Art. 15(1)(g)", "automated": "GDPR Art. 15(1)(h) and 22",
}
_GDPR_BREACH = BreachClock("within 72 hours of becoming aware of it", 72,
                           "without undue delay, when it is likely to result in a high risk to them",
                           "GDPR Art. 33(1) and 34(1)")

SPAIN_REGIME = Regime(
    key="ES", name="LOPDGDD/GDPR", language="es", law="the GDPR and Spain's LOPDGDD (Ley Orgánica 3/2018)",
    countries=SPAIN_COUNTRIES, codes=frozenset(), authority=AEPD, authority_fallback="", authority_list_url="",
    calendar=SPAIN, deadlines=_frozen((k, _gdpr_rule("Spain's national holidays")) for k in RequestType),
    grounds=_gdpr_grounds(), erasure_grounds=_GDPR_ERASURE,
    rights=_frozen({k: f"{v}; LOPDGDD Art. {n}" for (k, v), n in
                    zip(_GDPR_RIGHTS.items(), (13, 17, 15, 14, 16, 18), strict=True)}),
    legal_bases=_frozen({
        **_GDPR_BASES,
        "input_events": "Legitimate interests (GDPR Art. 6(1)(f)) in the control of work (Estatuto de los "
                        "Trabajadores Art. 20.3; LOPDGDD Art. 87), balanced against your interests; AI training "
                        "only with consent (Art. 6(1)(a))",
        "app_activity": "Legitimate interests (GDPR Art. 6(1)(f)) in the control of work (Estatuto de los "
                        "Trabajadores Art. 20.3; LOPDGDD Art. 87); AI training only with consent (Art. 6(1)(a))",
    }),
    complain_first=None,
    complain_text="If you think your data is handled unlawfully, you can complain to %(authority)s. You do not "
                  "need to ask us first.",
    breach=_GDPR_BREACH, citations=_frozen({**_GDPR_CITATIONS, "legal_hold": "GDPR Art. 17(3)(e); LOPDGDD Art. 32",
                                             "dpia": "GDPR Art. 35; the AEPD's list of processing that requires an "
                                                     "impact assessment (Art. 35(4))",
                                             "device_criteria": "LOPDGDD Art. 87(3); Estatuto de los Trabajadores "
                                                                "Art. 20 bis",
                                             "disconnection": "LOPDGDD Art. 88(3)",
                                             "collective_agreement": "LOPDGDD Art. 91",
                                             "legal_hold_reason": "GDPR Art. 17(3)(e): the data is needed for the establishment, exercise or defence of legal claims; it is kept blocked, as LOPDGDD Art. 32 requires"}),
    gdpr=True,
)

EU_REGIME = Regime(
    key="EU", name="GDPR", law="the GDPR", countries=EEA_COUNTRIES - SPAIN_COUNTRIES, codes=frozenset(),
    authority=None,
    authority_fallback="the data protection supervisory authority of the EU/EEA country where you live or work "
                       "(GDPR Art. 77)", authority_list_url=EU_AUTHORITIES_URL,
    calendar=WEEKENDS, deadlines=_frozen((k, _gdpr_rule("no country's holidays are pinned: weekends only"))
                                         for k in RequestType),
    grounds=_gdpr_grounds(), rights=_frozen(_GDPR_RIGHTS), legal_bases=_frozen(_GDPR_BASES), complain_first=None,
    erasure_grounds=_GDPR_ERASURE,
    complain_text="If you think your data is handled unlawfully, you can complain to %(authority)s. You do not "
                  "need to ask us first.",
    breach=_GDPR_BREACH, citations=_frozen({**_GDPR_CITATIONS, "legal_hold": "GDPR Art. 17(3)(e)",
                                             "dpia": "GDPR Art. 35",
                                             "legal_hold_reason": "GDPR Art. 17(3)(e): the data is needed for the establishment, exercise or defence of legal claims"}), gdpr=True,
)


# -- California (CCPA as amended by the CPRA) --------------------------------------------------------

def _ccpa_rule(name: str) -> DeadlineRule:
    return DeadlineRule(
        name=name, first=Period(45, Unit.DAYS), basis="Cal. Civ. Code §1798.130(a)(2); 11 CCR §7021(b)",
        extension=Period(90, Unit.DAYS), extension_from_receipt=True, extension_text="45 days",
        extension_basis="Cal. Civ. Code §1798.130(a)(2)(A); 11 CCR §7021(b): once, by 45 days (90 from receipt "
                        "in all), told within the first 45 days with the reasons",
        acknowledge=Period(10, Unit.BUSINESS_DAYS), acknowledge_basis="11 CCR §7021(a)",
    )


_CCPA_LIMIT = DeadlineRule(
    name="request to limit", first=Period(15, Unit.BUSINESS_DAYS),
    basis="11 CCR §7027(g) (request to limit, Cal. Civ. Code §1798.121)",
    note="No extension: a request to limit is complied with as soon as feasibly possible, at the latest within "
         "15 business days.",
)
_CCPA_VERIFIABLE = frozenset({T.ACCESS, T.PORTABILITY, T.ERASURE, T.RECTIFICATION})

CALIFORNIA_REGIME = Regime(
    key="US-CA", name="CCPA/CPRA", law="the CCPA as amended by the CPRA", countries=frozenset(), cpra_metrics=True,
    codes=frozenset({"US-CA"}), authority=CPPA, authority_fallback="", authority_list_url="", calendar=CALIFORNIA,
    deadlines=_frozen({T.ACCESS: _ccpa_rule("request to know"), T.PORTABILITY: _ccpa_rule("request to know"),
                       T.ERASURE: _ccpa_rule("request to delete"), T.RECTIFICATION: _ccpa_rule("request to correct"),
                       T.RESTRICTION: _CCPA_LIMIT, T.OBJECTION: _CCPA_LIMIT}),
    grounds=(
        # A request to limit needs no verification (11 CCR §7060(b)).
        Ground("ccpa-verify", "11 CCR §§7060-7062", "the request could not be verified", _CCPA_VERIFIABLE),
        Ground("ccpa-1798-105-d", "Cal. Civ. Code §1798.105(d)", "an exception to deletion applies",
               frozenset({T.ERASURE})),
        Ground("ccpa-1798-145-a", "Cal. Civ. Code §1798.145(a)(1)",
               "complying with a law, a court order or subpoena, or a regulatory inquiry, or exercising or "
               "defending legal claims"),
        Ground("no-data", "Cal. Civ. Code §1798.110", "no personal information of the requester is held"),
        Ground("other", "", "Other (explained below)"),
    ),
    erasure_grounds=(
        Ground("ccpa-1798-105-a", "Cal. Civ. Code §1798.105(a) and (c)",
               "a verified request to delete personal information collected from the consumer: no reason is needed",
               frozenset({T.ERASURE})),
    ),
    rights=_frozen({T.ACCESS: "Cal. Civ. Code §1798.110", T.PORTABILITY: "Cal. Civ. Code §1798.130(a)(3)(B)(iii)",
                    T.ERASURE: "Cal. Civ. Code §1798.105", T.RECTIFICATION: "Cal. Civ. Code §1798.106",
                    T.RESTRICTION: "Cal. Civ. Code §1798.121", T.OBJECTION: "Cal. Civ. Code §1798.121"}),
    legal_bases=_frozen({
        "input_events": "The CCPA asks for no legal basis: the purposes are disclosed at collection "
                        "(Cal. Civ. Code §1798.100(a)); AI training only with your consent",
        "app_activity": "The CCPA asks for no legal basis: the purposes are disclosed at collection "
                        "(Cal. Civ. Code §1798.100(a)); AI training only with your consent",
        "screenshots": "Your consent (the CCPA asks for no legal basis; purposes disclosed at collection, "
                       "Cal. Civ. Code §1798.100(a)); you can withdraw it at any time",
        "ai_training_use": "Your consent (the CCPA asks for no legal basis; purposes disclosed at collection, "
                           "Cal. Civ. Code §1798.100(a)); you can withdraw it at any time",
    }),
    complain_first=None,
    complain_text="If you think your data is handled unlawfully, you can complain to %(authority)s. You do not "
                  "need to ask us first.",
    breach=BreachClock("", None, "in the most expedient time possible and without unreasonable delay; a copy to "
                                 "the Attorney General when more than 500 residents are told",
                       "Cal. Civ. Code §1798.82(a) and (f)"),
    citations=_frozen({"copy": "Cal. Civ. Code §§1798.110, 1798.130", "purposes": "Cal. Civ. Code §1798.100(a)",
                       "recipients": "Cal. Civ. Code §1798.110(a)(4)", "retention": "Cal. Civ. Code §1798.100(a)(3)",
                       "act": "Cal. Civ. Code §§1798.105, 1798.106, 1798.121",
                       "source": "Cal. Civ. Code §1798.110(a)(2)",
                       "non_retaliation": "Cal. Civ. Code §1798.125",
                       "limit_sensitive": "Cal. Civ. Code §§1798.121, 1798.140(ae); 11 CCR §7027",
                       "legal_hold": "Cal. Civ. Code §1798.145(a)(1)(E)",
                       "legal_hold_reason": "Cal. Civ. Code §1798.145(a)(1)(E): a business may keep personal information it needs to exercise or defend legal claims"}),
    category_names=_frozen({
        "input_events": "Internet or other electronic network activity information, and professional or "
                        "employment-related information (Cal. Civ. Code §1798.140(v)(1)(F) and (I))",
        "app_activity": "Internet or other electronic network activity information, and professional or "
                        "employment-related information (Cal. Civ. Code §1798.140(v)(1)(F) and (I))",
        "screenshots": "Audio, electronic, visual or similar information (Cal. Civ. Code §1798.140(v)(1)(H)); "
                       "sensitive personal information where a screenshot shows the contents of mail, e-mail or "
                       "text messages not addressed to the company (§1798.140(ae)(1)(E))",
    }),
)


# -- Colombia (Ley 1581 de 2012) ----------------------------------------------------------------------

_CO_QUERY = DeadlineRule(
    name="consulta", first=Period(10, Unit.BUSINESS_DAYS), basis="Ley 1581 Art. 14",
    extension=Period(5, Unit.BUSINESS_DAYS), extension_text="5 business days",
    extension_basis="Ley 1581 Art. 14: at most 5 business days after the first term, told before it ends with "
                    "the reasons and the new date",
)
_CO_CLAIM = DeadlineRule(
    name="reclamo", first=Period(15, Unit.BUSINESS_DAYS), basis="Ley 1581 Art. 15",
    extension=Period(8, Unit.BUSINESS_DAYS), extension_text="8 business days",
    extension_basis="Ley 1581 Art. 15(3): at most 8 business days after the first term, told before it ends with "
                    "the reasons and the new date",
    timers=(
        Timer("complete", "Ask the claimant to complete an incomplete claim by", Period(5, Unit.BUSINESS_DAYS),
              "Ley 1581 Art. 15(1)"),
        Timer("marker", "Mark the data \"reclamo en trámite\" (with the reason) by", Period(2, Unit.BUSINESS_DAYS),
              "Ley 1581 Art. 15(2), counted from receipt of the complete claim"),
        Timer("transfer", "If not competent, pass the claim on (and tell the claimant) by",
              Period(2, Unit.BUSINESS_DAYS), "Ley 1581 Art. 15(1)"),
        Timer("desist", "Without an answer to the request to complete it, the claim is taken as withdrawn "
                        "(desistimiento) after", Period(2, Unit.MONTHS), "Ley 1581 Art. 15(1)", counted_from="asked"),
    ),
)
_CO_DUTY_TO_REMAIN = Ground(
    "co-1377-9", "Decreto 1377 de 2013 Art. 9 (DUR 1074 de 2015 art. 2.2.2.25.2.8)",
    "the requester has a legal or contractual duty to remain in the database", frozenset({T.ERASURE, T.OBJECTION}))

COLOMBIA_REGIME = Regime(
    key="CO", name="Ley 1581 (Colombia)", language="es", law="Colombia's Ley 1581 de 2012", countries=frozenset({"CO"}),
    codes=frozenset(), authority=SIC, authority_fallback="", authority_list_url="", calendar=COLOMBIA,
    deadlines=_frozen({T.ACCESS: _CO_QUERY, T.PORTABILITY: _CO_QUERY, T.ERASURE: _CO_CLAIM,
                       T.RECTIFICATION: _CO_CLAIM, T.RESTRICTION: _CO_CLAIM, T.OBJECTION: _CO_CLAIM}),
    grounds=(
        _CO_DUTY_TO_REMAIN,
        Ground("identity", "Decreto 1377 de 2013 Art. 20 (DUR 1074 de 2015 art. 2.2.2.25.4.1)",
               "the requester did not show they are the titular or entitled to act for them"),
        Ground("no-data", "Ley 1581 Art. 14", "no personal data of the requester is held"),
        Ground("other", "", "Other (explained below)"),
    ),
    erasure_grounds=(
        Ground("co-1377-9-supresion", "Decreto 1377 de 2013 Art. 9 (DUR 1074 de 2015 art. 2.2.2.25.2.8); Ley 1581 "
                                      "Art. 8(e)",
               "the titular asks for suppression or revokes the authorisation, and has no legal or contractual duty "
               "to remain in the database", frozenset({T.ERASURE})),
        Ground("co-1581-8-e", "Ley 1581 Art. 8(e)", "the processing does not respect the constitutional and legal "
                                                    "principles, rights and guarantees", frozenset({T.ERASURE})),
    ),
    rights=_frozen({T.ACCESS: "Ley 1581 Art. 8(a) and 14", T.PORTABILITY: "Ley 1581 Art. 8(a) and 14 (a consulta)",
                    T.ERASURE: "Ley 1581 Art. 8(e) and 15", T.RECTIFICATION: "Ley 1581 Art. 8(a) and 15",
                    T.RESTRICTION: "Ley 1581 Art. 15 (a reclamo)", T.OBJECTION: "Ley 1581 Art. 8(e) and 15"}),
    legal_bases=_frozen(dict.fromkeys(("input_events", "app_activity", "screenshots", "ai_training_use"), "Your prior, express and informed authorisation (Ley 1581 Art. 9), of which proof is " "kept (Art. 17(b)) and which you may ask to see (Art. 8(b)) or revoke (Art. 8(e))")),
    complain_first="Ley 1581 Art. 16",
    complain_text="If you think your data is handled unlawfully, you can complain to %(authority)s, but only "
                  "once you have first made your consulta or reclamo to us and it has been answered or its term "
                  "has passed (Ley 1581 Art. 16).",
    breach=BreachClock("within 15 business days of detecting it", None,
                       "not set by Ley 1581 itself (the SIC is told, and may order more)",
                       "Ley 1581 Art. 17(n) and 18(k); SIC Circular Única, Título V"),
    citations=_frozen({"copy": "Ley 1581 Art. 8(a) and 14", "purposes": "Ley 1581 Art. 8(c) and 12",
                       "act": "Ley 1581 Art. 8, 14 and 15", "consent": "Ley 1581 Art. 8(e)",
                       "complain": "Ley 1581 Art. 8(f) and 16",
                       "legal_hold_reason": "Decreto 1377 de 2013 Art. 9 (Decreto 1074 de 2015, art. "
                                            "2.2.2.25.2.8): erasure does not proceed while a legal or contractual "
                                            "duty requires the data to remain in the database"}),
)


# -- Brazil (LGPD, Lei 13.709/2018) ---------------------------------------------------------------------

_BR_ROLL = "Código Civil Art. 132 §1: a last day on a holiday or weekend moves to the next business day"
_BR_ACCESS = DeadlineRule(
    name="confirmation and access", first=Period(15, Unit.DAYS), basis="LGPD Art. 19(II)", roll=True,
    roll_basis=_BR_ROLL,
    note="In simplified form at once (Art. 19(I)); the clear and complete declaration within 15 days of the "
         "request (Art. 19(II)). No extension.",
)
_BR_OTHER = DeadlineRule(
    name="request", first=Period(15, Unit.DAYS),
    basis="LGPD Art. 18 §§3-5 (no period in the law or an ANPD regulation yet: the portal answers within "
          "Art. 19(II)'s 15 days)", roll=True, roll_basis=_BR_ROLL,
    note="Art. 18 §4: when the request cannot be met at once, the controller answers with the reasons of fact "
         "or law that prevent it. No extension.",
)

BRAZIL_REGIME = Regime(
    key="BR", name="LGPD (Brazil)", language="pt_BR", law="Brazil's LGPD (Lei 13.709/2018)", countries=frozenset({"BR"}),
    codes=frozenset(), authority=ANPD, authority_fallback="", authority_list_url="", calendar=BRAZIL,
    deadlines=_frozen({T.ACCESS: _BR_ACCESS, T.PORTABILITY: _BR_OTHER, T.ERASURE: _BR_OTHER,
                       T.RECTIFICATION: _BR_OTHER, T.RESTRICTION: _BR_OTHER, T.OBJECTION: _BR_OTHER}),
    grounds=(
        Ground("lgpd-16", "LGPD Art. 16", "the data may be kept: a legal or regulatory obligation, research, a "
                                          "transfer the law allows, or the controller's own use once anonymised",
               frozenset({T.ERASURE})),
        Ground("lgpd-18-4-i", "LGPD Art. 18 §4(I)", "the controller is not the processing agent of this data"),
        Ground("lgpd-18-4-ii", "LGPD Art. 18 §4(II)", "reasons of fact or law prevent acting on the request"),
        Ground("no-data", "LGPD Art. 18(I) and 19", "no personal data of the requester is processed"),
        Ground("other", "", "Other (explained below)"),
    ),
    erasure_grounds=(
        Ground("lgpd-18-iv", "LGPD Art. 18(IV)", "the data is unnecessary or excessive, or processed in breach of the "
                                                 "LGPD", frozenset({T.ERASURE})),
        Ground("lgpd-18-vi", "LGPD Art. 18(VI)", "the data was processed with the holder's consent (apart from "
                                                 "Art. 16's exceptions)", frozenset({T.ERASURE})),
        Ground("lgpd-15-16", "LGPD Art. 15 and 16", "the processing has ended: its purpose was achieved, its period "
                                                    "ended, or consent was revoked", frozenset({T.ERASURE})),
    ),
    rights=_frozen({T.ACCESS: "LGPD Art. 18(II) and 19", T.PORTABILITY: "LGPD Art. 18(V)",
                    T.ERASURE: "LGPD Art. 18(IV) and (VI)", T.RECTIFICATION: "LGPD Art. 18(III)",
                    T.RESTRICTION: "LGPD Art. 18(IV)", T.OBJECTION: "LGPD Art. 18 §2"}),
    legal_bases=_frozen({
        "input_events": "Legitimate interests (LGPD Art. 7(IX), within Art. 10's limits); AI training only with "
                        "consent (Art. 7(I))",
        "app_activity": "Legitimate interests (LGPD Art. 7(IX), within Art. 10's limits); AI training only with "
                        "consent (Art. 7(I))",
        "screenshots": "Consent (LGPD Art. 7(I) and 8); you can revoke it at any time (Art. 8 §5)",
        "ai_training_use": "Consent (LGPD Art. 7(I) and 8); you can revoke it at any time (Art. 8 §5)",
    }),
    complain_first="LGPD Art. 55-J(V)",
    complain_text="If you think your data is handled unlawfully, you can petition %(authority)s, but only once "
                  "you have first made your request to us and it was not resolved (LGPD Art. 55-J(V)).",
    breach=BreachClock("within 3 business days of learning of it", None,
                       "within 3 business days, when it may bring them relevant risk or harm",
                       "LGPD Art. 48; Resolução CD/ANPD nº 15/2024 Art. 6 and 9"),
    citations=_frozen({"copy": "LGPD Art. 18(II), 18(V) and 19", "purposes": "LGPD Art. 9",
                       "recipients": "LGPD Art. 18(VII)", "consent": "LGPD Art. 8 §5 and 18(IX)",
                       "act": "LGPD Art. 18", "complain": "LGPD Art. 18 §1 and 55-J(V)",
                       "automated": "LGPD Art. 20", "legal_hold": "LGPD Art. 7(VI)",
                       "legal_hold_reason": "LGPD Art. 16, I: the data may be kept to comply with a legal or regulatory obligation, here its preservation for judicial, administrative or arbitral proceedings (Art. 7, VI)"}),
)


# -- anything else ------------------------------------------------------------------------------------

DEFAULT_REGIME = Regime(
    key="default", name="GDPR (default)", law=None, countries=frozenset(), codes=frozenset(), authority=None,
    authority_fallback="the data protection authority where you live or work", authority_list_url="",
    calendar=WEEKENDS,
    deadlines=_frozen((k, _gdpr_rule("no holidays are pinned: weekends only",
                                     "no regime is recorded for this jurisdiction: the portal applies GDPR Art. 12(3) "
                                     "and Reg. 1182/71 Art. 3, the strictest common rule")) for k in RequestType),
    # No law is recorded for these jurisdictions, so the grounds cite none.
    grounds=(
        Ground("unfounded", "", "manifestly unfounded or excessive"),
        Ground("legal-duty", "", "a legal obligation to keep the data", frozenset({T.ERASURE})),
        Ground("legal-claims", "", "the data is needed for legal claims", frozenset({T.ERASURE})),
        Ground("identity", "", "the requester's identity could not be established"),
        Ground("no-data", "", "no personal data of the requester is held"),
        Ground("other", "", "Other (explained below)"),
    ),
    # No law is recorded: the grounds in plain words, citing none.
    erasure_grounds=(
        Ground("not-needed", "", "the data is no longer needed", frozenset({T.ERASURE})),
        Ground("consent-withdrawn", "", "consent was withdrawn", frozenset({T.ERASURE})),
        Ground("objection", "", "the person objected and no overriding ground remains", frozenset({T.ERASURE})),
        Ground("unlawful", "", "the data was processed unlawfully", frozenset({T.ERASURE})),
        Ground("legal-duty-erase", "", "a legal obligation requires the erasure", frozenset({T.ERASURE})),
    ),
    rights=_frozen({}), legal_bases=_frozen({}), complain_first=None,
    complain_text="If you think your data is handled unlawfully, you can complain to %(authority)s.",
    breach=_GDPR_BREACH,
)

REGIMES: tuple[Regime, ...] = (SPAIN_REGIME, EU_REGIME, CALIFORNIA_REGIME, COLOMBIA_REGIME, BRAZIL_REGIME,
                               DEFAULT_REGIME)
BY_KEY = MappingProxyType({r.key: r for r in REGIMES})
AUTHORITIES: tuple[Authority, ...] = tuple(r.authority for r in REGIMES if r.authority is not None)

_CODE = re.compile(r"([A-Z]{2})(?:-([A-Z0-9]{1,3}))?")


def normalise(code: str | None) -> str:
    return (code or "").strip().upper().replace("_", "-")


def regime_for(jurisdiction: str | None) -> Regime:
    """The regime of a jurisdiction code (``ES``, ``ES-CN``, ``US-CA``, ``RE``, ...): the full code
    first, then the country; anything else (another US state, a code that cannot be read) gets the
    default regime, GDPR's rule as the strictest common one."""
    code = normalise(jurisdiction)
    m = _CODE.fullmatch(code)
    if m is None:
        return DEFAULT_REGIME
    for regime in REGIMES:
        if code in regime.codes:
            return regime
    for regime in REGIMES:
        if m.group(1) in regime.countries:
            return regime
    return DEFAULT_REGIME


def regime_named(name: str | None) -> Regime | None:
    """The regime whose ``name`` a request recorded when it was filed."""
    return next((r for r in REGIMES if r.name == name), None)


def ground_label(jurisdiction: str | None, code: str | None) -> str:
    """How a stored refusal ground reads, in the regime of the request's jurisdiction."""
    if not code:
        return ""
    found = regime_for(jurisdiction).ground(code)
    return found.label if found is not None else code


def all_ground_codes() -> tuple[str, ...]:
    """Every ground's code once, in the registry's order (the report's denial columns)."""
    seen: dict[str, None] = {}
    for regime in REGIMES:
        for ground in regime.grounds:
            seen.setdefault(ground.code, None)
    seen.pop("other", None)
    return (*seen, "other")


def sharing_authorities() -> tuple[tuple[str, str], ...]:
    """Whom an evidence pack may be shared with: (code, label), the regimes' authorities first."""
    return (*((a.code, a.label()) for a in AUTHORITIES), *OTHER_AUTHORITIES)
