"""What the law says, per jurisdiction: the registry of regimes and of request kinds.

Everything that varies by country or by kind of request is read from here (see
:mod:`.registry`, :mod:`.kinds`, :mod:`.calendars`); the controller entity per country comes from
the deployment's settings (:mod:`.controllers`, read by ``current_settings().controller(...)``).
"""

from __future__ import annotations

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
    "RequestKind", "RequestType", "Timer", "Unit", "all_ground_codes", "controller_for",
    "ground_label", "kind", "normalise", "regime_for", "regime_named", "sharing_authorities",
]

