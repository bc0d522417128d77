"""The signed-in employee's dashboard and their own items, each loaded only if it is theirs."""

from __future__ import annotations

from flask import Blueprint, Response, abort, render_template
from flask_babel import LazyString, lazy_gettext
from flask_login import current_user

from portal.audit.services import Actor, record
from portal.extensions import db
from portal.me import charts
from portal.monitoring import services as monitoring
from portal.monitoring.models import ActivityEvent, Screenshot
from portal.people.pseudonyms import pseudonym as training_pseudonym
from portal.security import owned_or_404, public, signed_in

bp = Blueprint("me", __name__)

# Where an employee may lodge a complaint (GDPR Art. 15(1)(f), Art. 77), by jurisdiction: the
# full code first (a subdivision such as US-CA), then the country.
SUPERVISORY_AUTHORITIES = {
    "ES": lazy_gettext("the Agencia Española de Protección de Datos (AEPD)"),
    "US-CA": lazy_gettext("the California Privacy Protection Agency (CPPA)"),
    "CO": lazy_gettext("the Superintendencia de Industria y Comercio (SIC)"),
    "BR": lazy_gettext("the Autoridade Nacional de Proteção de Dados (ANPD)"),
}
LAWS = {
    "ES": lazy_gettext("the GDPR and Spain's LOPDGDD"),
    "US-CA": lazy_gettext("the CCPA as amended by the CPRA"),
    "CO": lazy_gettext("Colombia's Ley 1581 de 2012"),
    "BR": lazy_gettext("Brazil's LGPD"),
}

# The GDPR applies to employees in the European Economic Area.
EEA = frozenset({"AT", "BE", "BG", "CY", "CZ", "DE", "DK", "EE", "ES", "FI", "FR", "GR", "HR", "HU", "IE", "IS", "IT",
                 "LI", "LT", "LU", "LV", "MT", "NL", "NO", "PL", "PT", "RO", "SE", "SI", "SK"})


def _by_jurisdiction(table: dict[str, LazyString], jurisdiction: str) -> str | None:
    code = (jurisdiction or "").upper()
    found = table.get(code) or table.get(code.split("-", 1)[0])
    return str(found) if found is not None else None


def supervisory_authority(jurisdiction: str) -> str:
    """The authority to complain to, named for the employee's jurisdiction."""
    found = _by_jurisdiction(SUPERVISORY_AUTHORITIES, jurisdiction)
    return found or str(lazy_gettext("your data protection authority"))


def governing_law(jurisdiction: str) -> str | None:
    return _by_jurisdiction(LAWS, jurisdiction) or (str(lazy_gettext("the GDPR")) if under_gdpr(jurisdiction) else None)


def under_gdpr(jurisdiction: str) -> bool:
    return (jurisdiction or "").upper().split("-", 1)[0] in EEA


@bp.get("/")
@public
def home() -> str:
    if not current_user.is_authenticated:
        return render_template("landing.html")
    data = monitoring.dashboard(current_user.id, current_user.timezone)
    targets = data.targets
    return render_template(
        "me/home.html",
        data=data,
        heat=charts.heat_map(data.daily, data.today),
        targets=charts.bar_chart(targets.top, targets.other_ms, targets.other_events, targets.other_count),
        hours=charts.hour_chart(data.hourly),
        hours_minutes=charts.hours_minutes,
        authority=supervisory_authority(current_user.jurisdiction),
        law=governing_law(current_user.jurisdiction),
        gdpr=under_gdpr(current_user.jurisdiction),
        training_id=training_pseudonym(current_user.id),
    )


@bp.get("/me/events/<int:event_id>")
@signed_in
def event(event_id: int) -> str:
    item = owned_or_404(ActivityEvent, event_id)
    return render_template("me/event.html", event=item, sealed=monitoring.open_event(item))


@bp.get("/me/screenshots/<shot_id>")
@signed_in
def screenshot(shot_id: str) -> str:
    shot = owned_or_404(Screenshot, shot_id)
    return render_template("me/screenshot.html", shot=shot)


@bp.get("/me/screenshots/<shot_id>/image")
@signed_in
def screenshot_image(shot_id: str) -> Response:
    shot = owned_or_404(Screenshot, shot_id)
    try:
        data = monitoring.open_screenshot(shot)
    except monitoring.ScreenshotUnavailable:
        abort(404)
    record("monitoring:screenshot:view", actor=Actor("employee", current_user.id), subject_id=current_user.id,
           targets={"screenshot": shot.id})
    db.session.commit()
    response = Response(data, mimetype=shot.media_type)
    response.headers["Content-Disposition"] = "inline"
    return response
