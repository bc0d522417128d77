"""The employee's data browser: their events and their screenshots, newest first, filterable.

``/me/activity`` lists events, 50 a page; ``/me/screenshots`` shows screenshots as thumbnails,
24 a page. Filters are a GET form (a search changes nothing, so it carries no CSRF token);
invalid input answers 400 with the form's errors and no results.

Pages are keyset-paginated. The "Older" link (``rel="next"``) carries the filters and
``before=<time>~<id>``: the UTC time of the last item shown in ISO 8601 with microseconds and a
``Z``, a tilde, and that item's id (a number for events, 32 hex digits for screenshots), for
example ``before=2025-03-04T09:15:00.123456Z~4711``. The next page holds the items strictly older
than that, in the order (time, id) descending; see :mod:`portal.monitoring.browse`.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from typing import Any

from flask import Blueprint, Response, abort, render_template, request
from flask_babel import LazyString
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from flask_wtf import FlaskForm
from wtforms import DateField, Field, Form, HiddenField, SelectChoice, SelectField, StringField, ValidationError
from wtforms.validators import Length, Optional

from portal.audit.services import Actor, record
from portal.extensions import db
from portal.monitoring import browse
from portal.monitoring.aggregates import zone_of
from portal.monitoring.models import EventKind, Screenshot
from portal.monitoring.services import ScreenshotUnavailable
from portal.security import owned_or_404, signed_in

bp = Blueprint("browse", __name__)

CATEGORY_LABELS = {"input_events": _l("Mouse and keyboard input"), "app_activity": _l("Applications and web sites")}
KIND_LABELS = {
    EventKind.MOUSE_MOVE: _l("Mouse movement"),
    EventKind.CLICK: _l("Click"),
    EventKind.SCROLL: _l("Scroll"),
    EventKind.KEY_TIMING: _l("Key timing"),
    EventKind.APP_FOCUS: _l("Application in focus"),
    EventKind.SITE_VISIT: _l("Web site visit"),
}
KINDS = frozenset(k.value for k in EventKind)


@bp.app_template_filter("event_kind")
def event_kind(kind: str) -> str:
    """An event's kind as a person reads it (never its stored value)."""
    try:
        return str(KIND_LABELS[EventKind(kind)])
    except (ValueError, KeyError):
        return str(kind)
EARLIEST, LATEST = date(1970, 1, 1), date(2999, 12, 31)


def _valid_cursor(form: SearchForm, field: Field) -> None:
    if field.data:
        try:
            form.parse_cursor(field.data)
        except browse.CursorError:
            raise ValidationError(_l("This page link is damaged. Start again from the newest items.")) from None


def _sensible_date(form: Form, field: Field) -> None:
    if field.data is not None and not EARLIEST <= field.data <= LATEST:
        raise ValidationError(_l("Choose a date between 1970 and 2999."))


def _choices(everything: LazyString, labels: Mapping[Any, LazyString]) -> list[SelectChoice]:
    """An "everything" choice (empty value), then one per label; labels stay lazy (translated per request)."""
    return [SelectChoice("", everything), *(SelectChoice(str(value), label) for value, label in labels.items())]


def _strip(value: Any) -> Any:
    return value.strip() if isinstance(value, str) else value


class SearchForm(FlaskForm):
    """A GET search form: read from the query string, no CSRF token (it changes nothing)."""

    class Meta:
        csrf = False

    target = StringField(_l("Site or application"), filters=[_strip], validators=[Optional(), Length(max=253)],
                         description=_l("A web site such as github.com, or an application such as Slack."))

    before = HiddenField(validators=[Optional(), _valid_cursor])
    parse_cursor = staticmethod(browse.parse_event_cursor)

    def cursor(self) -> browse.Cursor | None:
        """The validated page position, if any."""
        return self.parse_cursor(self.before.data) if self.before.data else None

    def query_args(self) -> dict[str, str]:
        """The filters as query parameters, for links that keep them (the page position excluded)."""
        return {f.name: f.raw_data[0].strip() for f in self if f.name != "before" and f.raw_data and f.raw_data[0]}


class ActivityFilterForm(SearchForm):
    category = SelectField(_l("Category"), default="", choices=_choices(_l("All categories"), CATEGORY_LABELS))
    kind = SelectField(_l("Kind"), default="", choices=_choices(_l("All kinds"), KIND_LABELS))
    start = DateField(_l("From"), name="from", validators=[Optional(), _sensible_date])
    end = DateField(_l("To"), name="to", validators=[Optional(), _sensible_date])

    def validate_kind(self, field: Field) -> None:
        if field.data in KINDS and self.category.data and EventKind(field.data).category.value != self.category.data:
            raise ValidationError(_l("This kind is not in the chosen category."))

    def validate_end(self, field: Field) -> None:
        if field.data and self.start.data and field.data < self.start.data:
            raise ValidationError(_l("The end date is before the start date."))

    def filters(self) -> browse.EventFilter:
        return browse.EventFilter(category=self.category.data or None, target=self.target.data or None,
                                  kind=EventKind(self.kind.data) if self.kind.data else None,
                                  start=self.start.data, end=self.end.data)


class ScreenshotFilterForm(SearchForm):
    parse_cursor = staticmethod(browse.parse_screenshot_cursor)


@bp.get("/me/activity")
@signed_in
def activity() -> tuple[str, int]:
    form = ActivityFilterForm(request.args)
    zone = zone_of(current_user.timezone)
    if not form.validate():
        return render_template("monitoring/browse/activity.html", form=form, page=None, zone=zone, kinds=KIND_LABELS,
                               categories=CATEGORY_LABELS), 400
    page = browse.event_page(current_user.id, form.filters(), zone, form.cursor())
    return render_template("monitoring/browse/activity.html", form=form, page=page, zone=zone, kinds=KIND_LABELS,
                           categories=CATEGORY_LABELS), 200


@bp.get("/me/screenshots")
@signed_in
def screenshots() -> tuple[str, int]:
    form = ScreenshotFilterForm(request.args)
    zone = zone_of(current_user.timezone)
    if not form.validate():
        return render_template("monitoring/browse/screenshots.html", form=form, page=None, zone=zone,
                               thumb_size=browse.thumb_size), 400
    page = browse.screenshot_page(current_user.id, form.target.data or None, form.cursor())
    return render_template("monitoring/browse/screenshots.html", form=form, page=page, zone=zone,
                           thumb_size=browse.thumb_size), 200


@bp.get("/me/screenshots/<shot_id>/thumbnail")
@signed_in
def thumbnail(shot_id: str) -> Response:
    """A small JPEG made in memory from the decrypted screenshot; recorded like the full image."""
    shot = owned_or_404(Screenshot, shot_id)
    try:
        data = browse.thumbnail(shot)
    except ScreenshotUnavailable:
        abort(404)
    record("monitoring:screenshot:view", actor=Actor("employee", current_user.id), subject_id=current_user.id,
           targets={"screenshot": shot.id}, details={"size": "thumbnail"})
    db.session.commit()
    response = Response(data, mimetype="image/jpeg")
    response.headers["Content-Disposition"] = "inline"
    return response
