"""The signed-in employee's dashboard and their own items, each loaded only if it is theirs."""

from __future__ import annotations

from flask import Blueprint, Response, abort, render_template
from flask_login import current_user
from sqlalchemy import select

from portal.audit.services import Actor, record
from portal.config import current_settings
from portal.extensions import db
from portal.jurisdictions import regime_for
from portal.monitoring import services as monitoring
from portal.monitoring.aggregates import zone_of
from portal.monitoring.models import ActivityEvent, DataCategory, Screenshot
from portal.monitoring.views import charts
from portal.people.pseudonyms import pseudonym as training_pseudonym
from portal.rights import restrictions
from portal.rights.services import erasure_results, held_categories, waiting_for_requester
from portal.security import owned_or_404, public, signed_in

bp = Blueprint("me", __name__)

@bp.get("/")
@public
def home() -> str:
    if not current_user.is_authenticated:
        return render_template("landing.html")
    data = monitoring.dashboard(current_user.id, current_user.timezone, held=held_categories(current_user.id))
    targets = data.targets
    return render_template(
        "monitoring/home.html",
        data=data,
        waiting=waiting_for_requester(current_user.id),
        erased=erasure_results(current_user.id),
        heat=charts.heat_map(data.daily, data.today, since=data.first_day),
        targets=charts.bar_chart(targets.top, targets.other_ms, targets.other_events, targets.other_count),
        hours=charts.hour_chart(data.hourly),
        hours_minutes=charts.hours_minutes,
        regime=regime_for(current_user.jurisdiction),
        controller=current_settings().controller(current_user.jurisdiction),
        training_id=training_pseudonym(current_user.id),
        restricted=restrictions.in_force(current_user.id),
        category_names={c.key: c.name for c in db.session.scalars(select(DataCategory))},
    )


@bp.get("/me/events/<int:event_id>")
@signed_in
def event(event_id: int) -> str:
    item = owned_or_404(ActivityEvent, event_id)
    return render_template("monitoring/event.html", event=item, sealed=monitoring.open_event(item))


@bp.get("/me/screenshots/<shot_id>")
@signed_in
def screenshot(shot_id: str) -> str:
    shot = owned_or_404(Screenshot, shot_id)
    return render_template("monitoring/screenshot.html", shot=shot, zone=zone_of(current_user.timezone))


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
