"""The controller per country: the employer's legal entity that answers for the data there.

Which entity that is belongs to the deployment, not to the law, so it is read from a JSON file
(``PORTAL_CONTROLLERS``; the demo's is ``portal/demo/controllers.json``), checked at start-up::

    {"ES": {"name": "...", "address": "...", "representative": "...", "dpo": "..."},
     "US-CA": {...}, "*": {...}}

A jurisdiction finds its entry by its full code (``US-CA``), then its country (``ES`` for
``ES-CN``), then ``*``. Without a file or a matching entry, the pages say that the controller is not
recorded in the portal's settings, rather than naming one.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from types import MappingProxyType

from .registry import normalise

FIELDS = ("name", "address", "representative", "dpo", "device_criteria_date", "device_criteria_body",
          "disconnection_policy", "disconnection_date", "collective_agreement")
DATE_FIELDS = ("device_criteria_date", "disconnection_date")


class ControllerFileError(ValueError):
    """The controllers file cannot be used; the message says why."""


@dataclass(frozen=True)
class Controller:
    name: str
    address: str = ""
    representative: str = ""  # who represents it (Art. 27 representative, or its legal representative)
    dpo: str = ""  # its Data Protection Officer's contact
    # Spain's workplace digital rights (LOPDGDD Art. 87, 88, 91), facts of the entity there:
    device_criteria_date: str = ""  # ISO date the device-use criteria were set (Art. 87(3))
    device_criteria_body: str = ""  # with which workers' representatives
    disconnection_policy: str = ""  # the internal disconnection policy's reference (Art. 88(3))
    disconnection_date: str = ""  # ISO date it took effect
    collective_agreement: str = ""  # a collective agreement with digital-rights guarantees (Art. 91)

    @property
    def recorded(self) -> bool:
        return bool(self.name)


NOT_RECORDED = Controller("")


def load(path: str | Path) -> Mapping[str, Controller]:
    """Read and check a controllers file."""
    try:
        raw = json.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise ControllerFileError(f"{path} cannot be read: {exc.strerror}") from None
    except json.JSONDecodeError as exc:
        raise ControllerFileError(f"{path} is not JSON: {exc}") from None
    if not isinstance(raw, dict):
        raise ControllerFileError(f"{path} must hold one object, jurisdiction code -> controller")
    found: dict[str, Controller] = {}
    for code, entry in raw.items():
        if not isinstance(entry, dict) or not isinstance(entry.get("name"), str) or not entry["name"].strip():
            raise ControllerFileError(f"{path}: the entry {code!r} needs at least a non-empty \"name\"")
        unknown = set(entry) - set(FIELDS)
        if unknown:
            raise ControllerFileError(f"{path}: the entry {code!r} has unknown fields: {', '.join(sorted(unknown))}")
        if not all(isinstance(entry.get(f, ""), str) for f in FIELDS):
            raise ControllerFileError(f"{path}: the entry {code!r} must hold text only")
        for name in DATE_FIELDS:
            if entry.get(name):
                try:
                    date.fromisoformat(entry[name])
                except ValueError:
                    raise ControllerFileError(f"{path}: the entry {code!r} has {name} {entry[name]!r}, not a date "
                                              "(YYYY-MM-DD)") from None
        found[code if code == "*" else normalise(code)] = Controller(**{f: entry.get(f, "").strip() for f in FIELDS})
    return MappingProxyType(found)


def controller_for(controllers: Mapping[str, Controller], jurisdiction: str | None) -> Controller:
    code = normalise(jurisdiction)
    return (controllers.get(code) or controllers.get(code.split("-", 1)[0]) or controllers.get("*")
            or NOT_RECORDED)
