"""Error pages that say what happened in plain words and reveal nothing else."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from flask import Flask, current_app, g, jsonify, render_template, request
from flask.globals import request_ctx
from flask_babel import lazy_gettext as _l
from flask_login import AnonymousUserMixin
from flask_wtf.csrf import CSRFError
from sqlalchemy.exc import DBAPIError
from werkzeug.exceptions import HTTPException, InternalServerError
from werkzeug.wrappers import Response

from portal.db import Busy, DatabaseUnavailable, describe_failure, is_transient
from portal.extensions import db

log = logging.getLogger(__name__)

DATABASE_RETRY_AFTER = "30"  # seconds: a database restart or failover usually takes less

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


def wants_json() -> bool:
    """Whether the client reads JSON rather than pages: the API, or an Accept header that prefers
    JSON to HTML (the export page's progress script)."""
    if request.path.startswith("/api/"):
        return True
    accept = request.accept_mimetypes
    return bool(accept) and accept.best_match(["text/html", "application/json"]) == "application/json" \
        and accept["application/json"] > accept["text/html"]


def _forget_the_session() -> None:
    """Drop the transaction that failed and everything loaded in it (the signed-in person, their
    session row), so that rendering the error page does not reach for the database again."""
    try:
        db.session.rollback()
    except Exception:  # the connection is gone; the pool replaces it
        log.debug("rollback after a database failure failed", exc_info=True)
    db.session.remove()
    g._login_user = AnonymousUserMixin()
    g.pop("auth_session", None)


def _no_session_store() -> None:
    """The session store failed while the request began: render without any session."""
    ctx = request_ctx._get_current_object()  # type: ignore[attr-defined]
    if ctx._session is None:  # its opening failed (Flask 3.1 keeps the opened session there)
        ctx._session = current_app.session_interface.make_null_session(current_app)
    g._login_user = AnonymousUserMixin()
    g.pop("auth_session", None)


def session_store_error(exc: BaseException) -> bool:
    """Redis (the session store, when configured) refused, dropped or did not answer."""
    from redis.exceptions import ConnectionError as RedisConnectionError
    from redis.exceptions import TimeoutError as RedisTimeout

    return isinstance(exc, RedisConnectionError | RedisTimeout)


def sessions_unavailable() -> Any:
    return unavailable(_l("The portal cannot read or save sign-in sessions at the moment (their store is not "
                          "answering). Please try again in a minute."))


def database_unavailable() -> Any:
    return unavailable(_l("The portal's database is not answering at the moment, so nothing was changed or "
                          "saved. Please try again in a minute."))


def unavailable(message: Any) -> Any:
    """503 with ``Retry-After``: a page, or ``application/problem+json`` (RFC 9457) for JSON clients."""
    headers = {"Retry-After": DATABASE_RETRY_AFTER, "Cache-Control": "no-store"}
    if wants_json():
        response = jsonify({"type": "about:blank", "title": "Service Unavailable", "status": 503,
                            "detail": str(message)})
        response.status_code = 503
        response.mimetype = "application/problem+json"
        response.headers.update(headers)
        return response
    page, code = render_error(503, _l("Unavailable"), message)
    return page, code, headers


def install(app: Flask) -> None:
    @app.errorhandler(CSRFError)
    def csrf_error(error: CSRFError) -> tuple[str, int]:
        return render_error(400, _l("Your form expired"),
                            _l("For your security the form could not be accepted. Reload the page and try again."))

    @app.errorhandler(HTTPException)
    def http_error(error: HTTPException) -> Any:
        return _rendered(error) or render_error(error.code or 500)

    @app.errorhandler(Busy)
    def busy(error: Busy) -> Any:
        db.session.rollback()  # nothing of the request was kept: it changes nothing unrecorded
        if (answer := _rendered(error)) is not None:
            return answer
        page, code = render_error(503, _l("Busy"), _l("The portal is busy finishing other work and did not make "
                                                      "this change. Nothing was changed; please try again in a "
                                                      "moment."))
        return page, code, {"Retry-After": "30"}

    @app.errorhandler(DBAPIError)
    def database_error(error: DBAPIError) -> Any:
        if not is_transient(error):
            raise error  # a fault of ours: the 500 page, and the traceback in the log
        # Whatever the request had written is in the transaction the database threw away (one
        # commit per request, at its end): nothing of it was kept.
        log.warning("%s %s: the database did not answer (%s); answered 503", request.method,
                    request.url_rule.rule if request.url_rule else "?", describe_failure(error))
        _forget_the_session()
        return database_unavailable()

    @app.errorhandler(DatabaseUnavailable)
    def database_gone(error: DatabaseUnavailable) -> Any:
        log.warning("the database stayed unavailable (%s); answered 503", error)
        _forget_the_session()
        return database_unavailable()

    @app.errorhandler(InternalServerError)
    def server_error(error: InternalServerError) -> Any:
        # Failures outside the view (opening or saving the session) come here wrapped.
        original = error.original_exception
        if original is not None and session_store_error(original):
            log.warning("the session store did not answer (%s); answered 503", type(original).__name__)
            _no_session_store()
            return sessions_unavailable()
        if original is not None and (is_transient(original) or isinstance(original, DatabaseUnavailable)):
            _forget_the_session()
            _no_session_store()  # sessions kept in the database could not be opened either
            return database_unavailable()
        db.session.rollback()
        return _rendered(error) or render_error(500)
