"""``/scim/v2``: the SCIM 2.0 service provider (RFC 7644) for a provisioning system with a token of
scope ``scim``. No session, no CSRF (bearer tokens only); every answer, refusals included, is
``application/scim+json``; a refused change is rolled back whole."""

from __future__ import annotations

import json
from functools import wraps
from typing import Any

from flask import Blueprint, Flask, request
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from werkzeug.exceptions import HTTPException
from werkzeug.wrappers import Response

from portal import errors
from portal.api.auth import bearer
from portal.api.models import ApiToken
from portal.audit.services import Actor, AuditBusy, record
from portal.config import current_settings
from portal.extensions import csrf, db
from portal.people import services as people
from portal.people.models import Employee
from portal.scim import discovery
from portal.scim import services as scim
from portal.scim.resources import (
    LIST,
    ScimError,
    apply_patch,
    invalid,
    parse_filter,
    read_user,
    render,
    select_attributes,
)
from portal.security import NoSessionUnder, Scope

MEDIA_TYPE = "application/scim+json"
PREFIX = "/scim/v2"
MAX_RESULTS = 200
MAX_BODY = 64 * 1024

bp = Blueprint("scim", __name__, url_prefix=PREFIX)
_STATUS = {"unauthorized": 401, "forbidden-scope": 403, "rate-limited": 429}


def scim_json(document: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(json.dumps(document), status=status, mimetype=MEDIA_TYPE, headers=headers)


def _error(error: ScimError, headers: dict[str, str] | None = None) -> Response:
    return scim_json(error.document(), error.status, headers)


def _refusal(slug: str, detail: str, headers: dict[str, str]) -> Response:
    return _error(ScimError(_STATUS[slug], detail), headers)


scim_token = bearer(Scope.SCIM, _refusal)


def _base_url() -> str:
    value: str = current_settings().base_url
    return value.rstrip("/")


def _actor(token: ApiToken) -> Actor:
    return Actor("api-token", token.id)


def _body() -> Any:
    if request.mimetype not in (MEDIA_TYPE, "application/json"):
        raise ScimError(415, f"the body must be {MEDIA_TYPE}")
    if (request.content_length or 0) > MAX_BODY:
        raise ScimError(413, f"the body is larger than {MAX_BODY // 1024} KiB", "tooLarge")
    request.max_content_length = MAX_BODY  # also a body sent without a length
    try:
        return json.loads(request.get_data(cache=False) or b"null")
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise invalid("the body is not valid JSON", "invalidSyntax") from None


def _user(user_id: str) -> Employee:
    employee = db.session.get(Employee, user_id) if len(user_id) <= 64 else None
    if employee is None:
        raise ScimError(404, "no such User")
    return employee


def _answer(employee: Employee, status: int = 200) -> Response:
    document = render(employee, _base_url())
    meta = document["meta"]
    headers = {"ETag": meta["version"]}
    if status == 201:
        headers["Location"] = meta["location"]
    return scim_json(document, status, headers)


def _check_version(employee: Employee) -> None:
    """``If-Match`` (RFC 7644 section 3.14): the change applies only to the version the client saw."""
    wanted = request.headers.get("If-Match")
    if wanted and wanted.strip() != "*" and render(employee, _base_url())["meta"]["version"] not in (
            v.strip() for v in wanted.split(",")):
        raise ScimError(412, "the User has changed since this version was read")


def _int(name: str, default: int) -> int:
    raw = request.args.get(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise invalid(f"{name} must be an integer") from None
    return max(min(value, 1_000_000_000), -1_000_000_000)  # past the end is an empty page, not an overflow


def _refused(view: Any) -> Any:
    """Turn a :class:`ScimError` (or a unique key met by a concurrent request) into its answer,
    with every change of the request rolled back."""
    @wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Response:
        try:
            answer: Response = view(*args, **kwargs)
        except ScimError as error:
            db.session.rollback()
            return _error(error)
        except IntegrityError:  # a concurrent request took the same userName, number or externalId first
            db.session.rollback()
            return _error(ScimError(409, "another employee already has one of these unique values", "uniqueness"))
        return answer

    return wrapper


@bp.get("/Users")
@scim_token
@_refused
def list_users(token: ApiToken) -> Response:
    start = max(_int("startIndex", 1), 1)
    count = min(max(_int("count", MAX_RESULTS), 0), MAX_RESULTS)
    query = select(Employee)
    text = request.args.get("filter")
    if text is not None:
        attribute, value = parse_filter(text)
        found = people.find_by_email(value) if attribute == "username" else people.find_by_external_id(value)
        query = query.where(Employee.id == (found.id if found is not None else None))
    total = db.session.scalar(select(func.count()).select_from(query.subquery())) or 0
    page = db.session.scalars(query.order_by(Employee.created_at, Employee.id).offset(start - 1).limit(count)).all()
    base = _base_url()
    return scim_json({"schemas": [LIST], "totalResults": total, "startIndex": start, "itemsPerPage": len(page),
                      "Resources": [_partial(render(employee, base)) for employee in page]})


def _partial(user: dict[str, Any]) -> dict[str, Any]:
    return select_attributes(user, request.args.get("attributes"), request.args.get("excludedAttributes"))


@bp.get("/Users/<user_id>")
@scim_token
@_refused
def get_user(token: ApiToken, user_id: str) -> Response:
    employee = _user(user_id)
    user = render(employee, _base_url())
    version = user["meta"]["version"]
    if request.headers.get("If-None-Match") == version:
        return Response(status=304, headers={"ETag": version})
    return scim_json(_partial(user), headers={"ETag": version})


@bp.post("/Users")
@scim_token
@_refused
def create_user(token: ApiToken) -> Response:
    fields = read_user(_body())
    employee = scim.create_user(fields, actor=_actor(token))
    record("scim:user:create", actor=_actor(token), subject_id=employee.id, details={"active": fields.active is not False})
    return _answer(employee, 201)


def _change_user(token: ApiToken, user_id: str, *, operations: bool) -> Response:
    """PUT (``operations`` false: the body is the whole User) and PATCH (the body's operations,
    applied to the User as rendered now): either way a whole User, read and set by one path."""
    employee = _user(user_id)
    _check_version(employee)
    body = _body()
    user = apply_patch(render(employee, _base_url()), body) if operations else body
    changed = scim.replace_user(employee, read_user(user), actor=_actor(token))
    record("scim:user:patch" if operations else "scim:user:replace", actor=_actor(token), subject_id=employee.id,
           details={"changed": changed})
    return _answer(employee)


@bp.put("/Users/<user_id>")
@scim_token
@_refused
def replace_user(token: ApiToken, user_id: str) -> Response:
    return _change_user(token, user_id, operations=False)


@bp.patch("/Users/<user_id>")
@scim_token
@_refused
def patch_user(token: ApiToken, user_id: str) -> Response:
    return _change_user(token, user_id, operations=True)


@bp.delete("/Users/<user_id>")
@scim_token
@_refused
def delete_user(token: ApiToken, user_id: str) -> Response:
    employee = _user(user_id)
    _check_version(employee)
    scim.deactivate(employee, actor=_actor(token))
    record("scim:user:delete", actor=_actor(token), subject_id=employee.id, details={"kept": "data and requests"})
    return Response(status=204)


@bp.get("/ServiceProviderConfig")
@scim_token
def service_provider_config(token: ApiToken) -> Response:
    return scim_json(discovery.service_provider_config(_base_url(), MAX_RESULTS))


@bp.get("/ResourceTypes")
@scim_token
def resource_types(token: ApiToken) -> Response:
    return scim_json(discovery.listed(discovery.resource_types(_base_url())))


@bp.get("/ResourceTypes/<name>")
@scim_token
@_refused
def resource_type(token: ApiToken, name: str) -> Response:
    return scim_json(discovery.one(discovery.resource_types(_base_url()), name))


@bp.get("/Schemas")
@scim_token
def schemas(token: ApiToken) -> Response:
    return scim_json(discovery.listed(discovery.schemas(_base_url())))


@bp.get("/Schemas/<path:urn>")
@scim_token
@_refused
def schema(token: ApiToken, urn: str) -> Response:
    return scim_json(discovery.one(discovery.schemas(_base_url()), urn))


def _scim_error(error: Exception) -> Response | None:
    """Errors under /scim/v2 in SCIM's error schema (the pages keep their HTML error pages)."""
    if not request.path.startswith(PREFIX + "/") and request.path != PREFIX:
        return None
    if isinstance(error, AuditBusy):
        db.session.rollback()
        return _error(ScimError(503, "the portal is busy; nothing was changed"), {"Retry-After": "30"})
    if isinstance(error, HTTPException) and error.code in (400, 404, 405, 413):
        text = {400: "the request could not be read", 404: "nothing is here",
                405: "this path does not take this method", 413: "the body is too large"}[error.code]
        db.session.rollback()
        return _error(ScimError(error.code, text, "tooLarge" if error.code == 413 else None))
    db.session.rollback()
    return _error(ScimError(500, "the portal failed; nothing was changed"))


def register(app: Flask) -> None:
    app.session_interface = NoSessionUnder(app.session_interface, PREFIX + "/")
    app.register_blueprint(bp)
    csrf.exempt(bp)  # bearer tokens only: a browser never sends one by itself
    errors.add_renderer(_scim_error)
