"""Error pages that say what happened in plain words and reveal nothing else."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import Flask, render_template
from flask_babel import lazy_gettext as _l
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException, InternalServerError
from werkzeug.wrappers import Response

from portal.audit.services import AuditBusy
from portal.extensions import db

MESSAGES = {
    400: (_l("Bad request"), _l("The request could not be understood. Go back and try again.")),
    403: (_l("Not allowed"), _l("You cannot do this.")),
    404: (_l("Not found"), _l("There is nothing here, or it is not yours to see.")),
    405: (_l("Not allowed"), _l("This page cannot be used that way.")),
    413: (_l("Too large"), _l("What you sent is larger than the portal accepts.")),
    429: (_l("Too many requests"), _l("Please wait a moment and try again.")),
    500: (_l("Something went wrong"), _l("The portal could not finish this. Nothing you had saved was lost; please try again later.")),
    503: (_l("Unavailable"), _l("A service the portal needs is not answering. Please try again in a few minutes.")),
}


# Parts of the portal that answer errors in their own form (the API: problem details) register a
# renderer; it returns None for requests that are not theirs.
Renderer = Callable[[Exception], Response | None]
RENDERERS: list[Renderer] = []


def add_renderer(renderer: Renderer) -> None:
    if renderer not in RENDERERS:
        RENDERERS.append(renderer)


def _rendered(error: Exception) -> Response | None:
    for renderer in RENDERERS:
        answer = renderer(error)
        if answer is not None:
            return answer
    return None


def render_error(code: int, title: object = None, message: object = None) -> tuple[str, int]:
    default_title, default_message = MESSAGES.get(code, MESSAGES[500])
    return render_template("error.html", code=code, title=title or default_title,
                           message=message or default_message), code


def install(app: Flask) -> None:
    @app.errorhandler(CSRFError)
    def csrf_error(error: CSRFError) -> tuple[str, int]:
        return render_error(400, _l("Your form expired"),
                            _l("For your security the form could not be accepted. Reload the page and try again."))

    @app.errorhandler(HTTPException)
    def http_error(error: HTTPException) -> Any:
        return _rendered(error) or render_error(error.code or 500)

    @app.errorhandler(AuditBusy)
    def audit_busy(error: AuditBusy) -> Any:
        db.session.rollback()  # nothing of the request was kept: it changes nothing unrecorded
        if (answer := _rendered(error)) is not None:
            return answer
        page, code = render_error(503, _l("Busy"), _l("The portal is busy finishing other work and did not make "
                                                      "this change. Nothing was changed; please try again in a "
                                                      "moment."))
        return page, code, {"Retry-After": "30"}

    @app.errorhandler(InternalServerError)
    def server_error(error: InternalServerError) -> Any:
        db.session.rollback()
        return _rendered(error) or render_error(500)
