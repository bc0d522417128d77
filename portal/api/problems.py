"""RFC 9457 problem details for everything under ``/api``: one stable ``type`` per kind of error
(listed on the reference page, where each ``type`` points), and a plain-words ``detail`` that
never echoes what was sent."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import msgspec
from flask import Response

from portal.api.schemas import Problem

MEDIA_TYPE = "application/problem+json"


@dataclass(frozen=True)
class Kind:
    slug: str
    status: int
    title: str
    meaning: str

    @property
    def type(self) -> str:
        return f"/api/docs#problem-{self.slug}"


KINDS = {kind.slug: kind for kind in (
    Kind("unauthorized", 401, "Not authenticated",
         "No token, or one that is malformed, unknown, expired or revoked (`WWW-Authenticate` says which)."),
    Kind("forbidden-scope", 403, "Scope missing", "The token works but was not given the scope this operation needs."),
    Kind("not-found", 404, "Not found", "Nothing is there, or it is not for this token to see."),
    Kind("method-not-allowed", 405, "Method not allowed", "The path exists, not with this method."),
    Kind("malformed-json", 400, "Malformed JSON", "The body is not JSON (or not UTF-8)."),
    Kind("bad-cursor", 400, "Bad cursor", "The `after` cursor was not given by this feed."),
    Kind("bad-query", 400, "Bad query parameter", "A query parameter has a value the operation does not take."),
    Kind("too-large", 413, "Body too large", "The body is larger than the endpoint accepts; send smaller batches."),
    Kind("unsupported-media-type", 415, "Unsupported media type", "The body must be `application/json`."),
    Kind("invalid-body", 422, "Invalid body", "The body's shape or types are wrong; `errors` points at the first."),
    Kind("batch-refused", 422, "Batch refused",
         "Records were refused; nothing of the batch was stored. `refused` names each with its `reason`."),
    Kind("subject-refused", 422, "Employee refused",
         "Nothing may be stored for this employee (`reason`: unknown_employee, former_employee, erased_subject)."),
    Kind("conflict", 409, "Conflict",
         "It is registered already, or the ledger's state does not allow it now (`detail` says which)."),
    Kind("members-refused", 422, "Members refused",
         "Members of a snapshot were refused; nothing was registered. `members` names each by its index and "
         "`reason` (unknown_subject, duplicate, excluded: not to be used for AI training now)."),
    Kind("membership-conflict", 422, "Membership conflict",
         "The new snapshot (or retrained model) still holds someone who must be removed; nothing was recorded."),
    Kind("rate-limited", 429, "Too many requests", "This token's rate limit is reached; wait `Retry-After` seconds."),
    Kind("busy", 503, "Busy", "The portal could not finish in time; nothing was stored. Try again after `Retry-After`."),
    Kind("server-error", 500, "Server error", "The portal failed; nothing was stored."),
)}


def body(slug: str, detail: str, **extra: Any) -> Problem:
    kind = KINDS[slug]
    return Problem(type=kind.type, title=kind.title, status=kind.status, detail=detail, **extra)


def respond(problem: Problem, headers: dict[str, str] | None = None) -> Response:
    response = Response(msgspec.json.encode(problem), status=problem.status, mimetype=MEDIA_TYPE)
    for name, value in (headers or {}).items():
        response.headers[name] = value
    return response


def problem(slug: str, detail: str, headers: dict[str, str] | None = None, **extra: Any) -> Response:
    return respond(body(slug, detail, **extra), headers)


class ApiProblem(Exception):
    """Raised by a view to answer with a problem."""

    def __init__(self, slug: str, detail: str, headers: dict[str, str] | None = None, **extra: Any) -> None:
        super().__init__(detail)
        self.response = problem(slug, detail, headers, **extra)
