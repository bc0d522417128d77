"""The signed-in employee's home page and their own items, each loaded only if it is theirs."""

from __future__ import annotations

from flask import Blueprint, Response, render_template
from flask_login import current_user

from portal.audit.services import Actor, record
from portal.extensions import db
from portal.forms import ButtonForm
from portal.monitoring import services as monitoring
from portal.monitoring.models import ActivityEvent, Screenshot
from portal.security import owned_or_404, public, signed_in

bp = Blueprint("me", __name__)


@bp.get("/")
@public
def home() -> str:
    if not current_user.is_authenticated:
        return render_template("landing.html")
    return render_template(
        "me/home.html",
        totals=monitoring.category_totals(current_user.id),
        events=monitoring.recent_events(current_user.id),
        screenshots=monitoring.recent_screenshots(current_user.id),
        form=ButtonForm(),
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
    data = monitoring.open_screenshot(shot)
    record("monitoring:screenshot:view", actor=Actor("employee", current_user.id), subject_id=current_user.id,
           targets={"screenshot": shot.id})
    db.session.commit()
    response = Response(data, mimetype=shot.media_type)
    response.headers["Content-Disposition"] = "inline"
    return response
