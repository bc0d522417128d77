"""What the law says, per jurisdiction: the registry of regimes and of request kinds.

Everything that varies by country or by kind of request is read from here (see
:mod:`.registry`, :mod:`.kinds`, :mod:`.calendars`); the controller entity per country comes from
the deployment's settings (:mod:`.controllers`).
"""

from __future__ import annotations

from flask import current_app

from .calendars import CALENDARS, PINNED_YEARS, Calendar, Holiday
from .controllers import NOT_RECORDED, Controller, controller_for
from .kinds import KINDS, Cpra, RequestKind, RequestType, kind
from .registry import (
    AUTHORITIES,
    BY_KEY,
    REGIMES,
    Authority,
    BreachClock,
    DeadlineRule,
    Ground,
    Period,
    Regime,
    Timer,
    Unit,
    all_ground_codes,
    ground_label,
    normalise,
    regime_for,
    regime_named,
    sharing_authorities,
)

__all__ = [
    "AUTHORITIES", "BY_KEY", "CALENDARS", "KINDS", "NOT_RECORDED", "PINNED_YEARS", "REGIMES", "Authority",
    "BreachClock", "Calendar", "Controller", "Cpra", "DeadlineRule", "Ground", "Holiday", "Period", "Regime",
    "RequestKind", "RequestType", "Timer", "Unit", "all_ground_codes", "controller", "controller_for",
    "ground_label", "kind", "normalise", "regime_for", "regime_named", "sharing_authorities",
]


def controller(jurisdiction: str | None) -> Controller:
    """The controller entity for ``jurisdiction``, from the running portal's settings."""
    settings = current_app.config["PORTAL_SETTINGS"]
    return controller_for(settings.controllers or {}, jurisdiction)
