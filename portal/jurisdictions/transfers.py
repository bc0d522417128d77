"""Transfers of a register category's data to its recipients' countries, and the safeguard each goes
under (GDPR Art. 15(1)(c) and (2), 30(1)(e), 44 to 46).

The facts (who receives it, in which country, under which safeguard) are data on the register
(``data_categories.transfers``: ``[{"recipient", "destination", "safeguard"}]``, the destination an
ISO 3166 country code); what each safeguard is in law is here. The safeguards are the GDPR's: an
employee whose regime is not the GDPR is told where the data goes, not a GDPR instrument that is no
safeguard under their law.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from babel import Locale
from flask_babel import LazyString, get_locale
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from .registry import EEA_COUNTRIES


@dataclass(frozen=True)
class Safeguard:
    code: str
    name: LazyString
    citation: str
    inside_eea: bool = False  # "none" is only for a destination where the GDPR applies


SAFEGUARDS: Mapping[str, Safeguard] = {s.code: s for s in (
    Safeguard("none", _l("No transfer outside the EU/EEA"), "GDPR Art. 44", inside_eea=True),
    Safeguard("adequacy", _l("An adequacy decision of the European Commission for that country"), "GDPR Art. 45"),
    Safeguard("sccs", _l("Standard contractual clauses adopted by the European Commission"),
              "GDPR Art. 46(2)(c); Commission Implementing Decision (EU) 2021/914"),
    Safeguard("dpf", _l("The EU-US Data Privacy Framework: the recipient is certified under it"),
              "GDPR Art. 45; Commission Implementing Decision (EU) 2023/1795"),
)}


class TransferError(ValueError):
    """A transfer entry of the register that cannot be true; the message says why."""


@dataclass(frozen=True)
class Transfer:
    recipient: str
    destination: str  # ISO 3166 alpha-2
    safeguard: Safeguard

    def country(self) -> str:
        """The destination's name in the reader's language (Babel's territory names)."""
        locale = get_locale() or Locale("en")
        return str(locale.territories.get(self.destination, self.destination))

    def line(self, with_safeguard: bool) -> str:
        """"AI Research: United States, under the EU-US Data Privacy Framework ... (GDPR Art. 45; ...)"."""
        if not with_safeguard:
            return _("%(recipient)s: %(country)s", recipient=self.recipient, country=self.country())
        return _("%(recipient)s: %(country)s. Safeguard: %(safeguard)s (%(citation)s)", recipient=self.recipient,
                 country=self.country(), safeguard=self.safeguard.name, citation=self.safeguard.citation)


def read(raw: Iterable[Mapping[str, str]] | None) -> tuple[Transfer, ...]:
    """The register's entries as transfers, checked: a known safeguard, and "none" only inside the
    EU/EEA, any other only outside it (a transfer to a third country needs one, Art. 44)."""
    found = []
    for entry in raw or ():
        code = str(entry.get("destination", "")).upper()
        safeguard = SAFEGUARDS.get(str(entry.get("safeguard", "")))
        if safeguard is None:
            raise TransferError(f"unknown safeguard {entry.get('safeguard')!r}: one of {', '.join(SAFEGUARDS)}")
        if len(code) != 2 or not code.isalpha():
            raise TransferError(f"destination {code!r} is not an ISO 3166 country code")
        if safeguard.inside_eea != (code in EEA_COUNTRIES):
            raise TransferError(f"{code}: " + ("a destination outside the EU/EEA needs a safeguard"
                                               if safeguard.inside_eea else
                                               "a destination inside the EU/EEA is no transfer to a third country"))
        found.append(Transfer(str(entry.get("recipient", "")), code, safeguard))
    return tuple(found)


def lines(raw: Iterable[Mapping[str, str]] | None, with_safeguard: bool) -> list[str]:
    return [t.line(with_safeguard) for t in read(raw)]
