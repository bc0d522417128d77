"""``/api/v1``: ingestion, the exclusions feed, request status; the OpenAPI document and its
reference page. Views decode with the msgspec types of :mod:`portal.api.schemas` and call the
same services as the rest of the portal."""

from __future__ import annotations

import io
import re
from typing import Any

import msgspec
from flask import Blueprint, Flask, render_template, request
from sqlalchemy.exc import IntegrityError, OperationalError
from werkzeug.exceptions import HTTPException
from werkzeug.wrappers import Response

from portal import errors
from portal.api import exclusions as feed
from portal.api import schemas as s
from portal.api.models import ApiToken
from portal.api.openapi import JSON, Answer, Param, document, operation
from portal.api.problems import MEDIA_TYPE, ApiProblem, body, problem, respond
from portal.audit.services import Actor, AuditBusy, record
from portal.db import Busy
from portal.extensions import csrf, db
from portal.monitoring.ingest import MAX_REFUSALS, IngestError, Reason, ingest_batch
from portal.people.services import find_by_email, find_by_employee_number
from portal.rights.models import DataRequest
from portal.security import NoSessionUnder, Scope, public

bp = Blueprint("api", __name__, url_prefix="/api/v1")
docs_bp = Blueprint("api_docs", __name__)

MAX_BODY = 16 * 1024 * 1024  # the app's MAX_CONTENT_LENGTH: a batch with base64 screenshots
ATTEMPTS = 3  # a batch that met a concurrent copy of itself is taken again and finds it stored
_EVENT = msgspec.json.Decoder(s.Event)
_SCREENSHOT = msgspec.json.Decoder(s.Screenshot)
_ENVELOPE = msgspec.json.Decoder(s.IngestEnvelope)
_FIELD = re.compile(r"^[a-z_]{1,40}$")
_AT = re.compile(r" - at `\$(.*)`$")


def json_response(value: Any, status: int = 200) -> Response:
    """``value`` (a msgspec struct, or what msgspec encodes) as the JSON answer."""
    return Response(msgspec.json.encode(value), status=status, mimetype=JSON)


def decode_body(decoder: msgspec.json.Decoder[Any]) -> Any:
    """A JSON body decoded by ``decoder``, or raise the problem that says what is wrong with it."""
    if request.mimetype != JSON:
        raise ApiProblem("unsupported-media-type", "The body must be application/json.")
    try:
        return decoder.decode(request.get_data(cache=False))
    except msgspec.ValidationError as exc:
        detail, pointer = schema_message(str(exc))
        raise ApiProblem("invalid-body", f"The body does not match the schema: {detail}.",
                         errors=[s.FieldProblem(pointer or "/", detail)]) from None
    except (msgspec.DecodeError, UnicodeDecodeError):
        raise ApiProblem("malformed-json", "The body is not valid JSON.") from None


def schema_message(message: str) -> tuple[str, str]:
    """msgspec's message without anything the client sent (field names only when they look like
    ours), and where it was as a JSON pointer."""
    match = _AT.search(message)
    path = match.group(1) if match else ""
    text = message[: match.start()] if match else message
    pointer = re.sub(r"\[(\d+)\]", r"/\1", path).replace(".", "/")
    if text.startswith("Object contains unknown field"):
        name = text.split("`")[1] if "`" in text else ""
        text = f"unknown field: {name}" if _FIELD.match(name) else "unknown field"
    elif text.startswith("Invalid enum value"):
        text = "not one of the allowed values"
    return text, pointer


EXAMPLE_PNG = "iVBORw0KGgoAAAANSUhEUgAAAAQAAAADCAIAAAA7ljmRAAAAFElEQVR4nGM0TlvFAANMDEgAhQMALtQBSZODPAYAAAAASUVORK5CYII="  # 4 x 3
EXAMPLE_BATCH: dict[str, Any] = {
    "employee_number": "E1001",
    "events": [
        {"event_id": "c7-2026-11-23-000001", "kind": "app_focus", "occurred_at": "2026-11-23T09:00:00Z",
         "application": "Slack", "duration_ms": 65000, "title": "#general - Acme"},
        {"event_id": "c7-2026-11-23-000002", "kind": "site_visit", "occurred_at": "2026-11-23T09:01:05+01:00",
         "application": "Firefox", "site_domain": "github.com", "url": "https://github.com/acme/app/pull/7",
         "title": "Fix the build - Pull Request #7", "duration_ms": 42000},
        {"event_id": "c7-2026-11-23-000003", "kind": "click", "occurred_at": "2026-11-23T09:01:30Z",
         "application": "Firefox", "x": 640, "y": 412},
    ],
    "screenshots": [
        {"screenshot_id": "c7-shot-2026-11-23-0001", "captured_at": "2026-11-23T09:02:00Z",
         "application": "Firefox", "site_domain": "github.com", "image": EXAMPLE_PNG},
    ],
}
EXAMPLE_REFUSED_BATCH: dict[str, Any] = {
    "email": "bob@example.com",
    "events": [
        {"event_id": "c7-2026-11-23-000101", "kind": "app_focus", "occurred_at": "1999-12-31T23:59:00Z",
         "application": "Slack"},
        {"event_id": "c7-2026-11-23-000102", "kind": "app_focus", "occurred_at": "2026-11-23T10:00:00Z",
         "application": "Sl\u200back"},
    ],
}
INGEST_ANSWERS = [
    Answer(200, "Stored (or already stored): what became of each record.", s.IngestAnswer, {
        "batch": {"stored": 4, "duplicates": 0, "refused": 0,
                  "events": [{"index": 0, "id": "c7-2026-11-23-000001", "result": "stored"},
                             {"index": 1, "id": "c7-2026-11-23-000002", "result": "stored"},
                             {"index": 2, "id": "c7-2026-11-23-000003", "result": "stored"}],
                  "screenshots": [{"index": 0, "id": "c7-shot-2026-11-23-0001", "result": "stored"}]},
        "batch-again": {"stored": 0, "duplicates": 4, "refused": 0,
                        "events": [{"index": 0, "id": "c7-2026-11-23-000001", "result": "duplicate"},
                                   {"index": 1, "id": "c7-2026-11-23-000002", "result": "duplicate"},
                                   {"index": 2, "id": "c7-2026-11-23-000003", "result": "duplicate"}],
                        "screenshots": [{"index": 0, "id": "c7-shot-2026-11-23-0001", "result": "duplicate"}]}}),
    Answer(400, "The body is not JSON.", s.Problem, {"not-json": msgspec.to_builtins(
        s.Problem(type="/api/docs#problem-malformed-json", title="Malformed JSON", status=400,
                  detail="The body is not valid JSON: JSON is malformed: object keys must be strings (byte 1)"))},
        MEDIA_TYPE),
    Answer(413, "The body is larger than 16 MiB.", s.Problem, {"too-large": msgspec.to_builtins(
        s.Problem(type="/api/docs#problem-too-large", title="Body too large", status=413,
                  detail="The body is larger than 16 MiB; send smaller batches."))}, MEDIA_TYPE),
    Answer(415, "The body is not application/json.", s.Problem, {"not-json-type": msgspec.to_builtins(
        s.Problem(type="/api/docs#problem-unsupported-media-type", title="Unsupported media type", status=415,
                  detail="The body must be application/json."))}, MEDIA_TYPE),
    Answer(422, "Refused: nothing of the batch was stored.", s.Problem, {
        "refused-batch": msgspec.to_builtins(s.Problem(
            type="/api/docs#problem-batch-refused", title="Batch refused", status=422,
            detail="2 record(s) were refused; nothing of the batch was stored.", refused_count=2, refused=[
                s.RefusedRecord("event", 0, Reason.TIME_OUT_OF_RANGE,
                                "occurred_at is before 2000: no capture agent recorded it"),
                s.RefusedRecord("event", 1, Reason.HIDDEN_CHARACTERS,
                                "application contains bidirectional-control or zero-width characters")])),
        "former-employee": msgspec.to_builtins(s.Problem(
            type="/api/docs#problem-subject-refused", title="Employee refused", status=422,
            detail="the subject is no longer employed; nothing may be collected", reason=Reason.FORMER_EMPLOYEE))},
        MEDIA_TYPE),
    Answer(503, "Busy; nothing was stored.", s.Problem, {"busy": msgspec.to_builtins(
        s.Problem(type="/api/docs#problem-busy", title="Busy", status=503,
                  detail="The portal is busy; nothing was stored. Try again."))}, MEDIA_TYPE,
        {"Retry-After": "Seconds."}),
]


@operation(bp, "POST", "/ingest", scope=Scope.INGEST, summary="Send a batch of monitoring data for one employee",
           description="Events and screenshots (the image file base64-encoded in JSON) for one employee, named by "
                       "employee number or work e-mail. Stored whole or not at all; records whose id was stored "
                       "before are duplicates (a retry stores nothing twice). A refused batch names every refused "
                       "record with a machine-readable `reason`: first every record's shape and types, then their "
                       "content. At most 10,000 events, 100 screenshots and 16 MiB.",
           body=s.IngestBatch, body_examples={"batch": EXAMPLE_BATCH, "batch-again": EXAMPLE_BATCH,
                                              "refused-batch": EXAMPLE_REFUSED_BATCH},
           answers=INGEST_ANSWERS)
def ingest(token: ApiToken) -> Response:
    if request.mimetype != JSON:
        return problem("unsupported-media-type", "The body must be application/json.")
    outcome = _take(token, request.get_data(cache=False))  # 413 past MAX_CONTENT_LENGTH
    return respond(outcome) if isinstance(outcome, s.Problem) else json_response(outcome)


def _take(token: ApiToken, data: bytes) -> s.IngestAnswer | s.Problem:
    """Decode, check and store one batch (in the request's transaction); its answer or problem."""
    try:
        envelope = _ENVELOPE.decode(data)
    except msgspec.ValidationError as exc:
        detail, pointer = schema_message(str(exc))
        return body("invalid-body", f"The body does not match the schema: {detail}.",
                    errors=[s.FieldProblem(pointer or "/", detail)])
    except msgspec.DecodeError as exc:
        return body("malformed-json", f"The body is not valid JSON: {schema_message(str(exc))[0]}")
    except UnicodeDecodeError:
        return body("malformed-json", "The body is not valid JSON: it is not UTF-8.")
    if (envelope.employee_number is None) == (envelope.email is None):
        return body("invalid-body", "Name the employee by exactly one of employee_number and email.",
                    errors=[s.FieldProblem("/", "exactly one of employee_number and email")])
    events: list[dict[str, Any]] = []
    shots: list[dict[str, Any]] = []
    refused: list[s.RefusedRecord] = []
    for kind, raws, decoder, out in (("event", envelope.events, _EVENT, events),
                                     ("screenshot", envelope.screenshots, _SCREENSHOT, shots)):
        for index, raw in enumerate(raws):
            try:
                out.append(msgspec.structs.asdict(decoder.decode(raw)))
            except (msgspec.ValidationError, msgspec.DecodeError) as exc:
                detail, pointer = schema_message(str(exc))
                refused.append(s.RefusedRecord(kind, index, Reason.INVALID,  # type: ignore[arg-type]
                                               f"{pointer.lstrip('/') or 'record'}: {detail}"))
    if refused:
        return _refused(token, "batch-refused", refused[:MAX_REFUSALS], len(refused))
    for record_ in events + shots:
        for name in [k for k, v in record_.items() if v is None]:
            del record_[name]
    employee = (find_by_employee_number(envelope.employee_number) if envelope.employee_number is not None
                else find_by_email(envelope.email or ""))
    if employee is None:
        return _subject_refused(token, Reason.UNKNOWN_EMPLOYEE, "No employee has this employee number or e-mail.")
    for attempt in range(ATTEMPTS):
        try:
            result = ingest_batch(employee.id, events, shots, actor=Actor("api-token", token.id))
            db.session.flush()
            break
        except IngestError as exc:
            if exc.what == "batch":
                return _subject_refused(token, exc.code, exc.reason)
            records = [s.RefusedRecord(r.what, r.index, r.code, r.reason)  # type: ignore[arg-type]
                       for r in exc.refusals[:MAX_REFUSALS]]
            return _refused(token, "batch-refused", records, len(exc.refusals))
        except (IntegrityError, OperationalError):
            # Another request stored the same records between our check and our insert (a
            # collector's retry racing its first try): take the batch again; it finds them stored.
            db.session.rollback()
            if attempt == ATTEMPTS - 1:
                raise AuditBusy("the batch met concurrent writes three times; nothing was stored") from None
    return s.IngestAnswer(stored=result.events_stored + result.screenshots_stored,
                          duplicates=result.events_duplicate + result.screenshots_duplicate, refused=0,
                          events=_results(events, "event_id", result.duplicate_event_ids),
                          screenshots=_results(shots, "screenshot_id", result.duplicate_screenshot_ids))


def _results(records: list[dict[str, Any]], id_field: str, stored_before: set[str]) -> list[s.RecordResult]:
    seen: set[str] = set()
    results = []
    for index, item in enumerate(records):
        source = item[id_field]
        fresh = source not in stored_before and source not in seen
        seen.add(source)
        results.append(s.RecordResult(index, source, "stored" if fresh else "duplicate"))
    return results


def _refused(token: ApiToken, slug: str, records: list[s.RefusedRecord], count: int) -> s.Problem:
    db.session.rollback()
    record("api:batch:refuse", actor=Actor("api-token", token.id),
           details={"refused": count, "reasons": sorted({r.reason.value for r in records})})
    return body(slug, f"{count} record(s) were refused; nothing of the batch was stored.", refused=records,
                refused_count=count)


def _subject_refused(token: ApiToken, reason: Reason, detail: str) -> s.Problem:
    db.session.rollback()
    record("api:batch:refuse", actor=Actor("api-token", token.id), details={"refused": "batch", "reasons": [reason.value]})
    return body("subject-refused", detail, reason=reason)


NDJSON = "application/x-ndjson"
EXAMPLE_BACKFILL = {
    "employee_number": "E1001",
    "events": [
        {"event_id": "c7-2026-11-22-000001", "kind": "app_focus", "occurred_at": "2026-11-22T08:30:00Z",
         "application": "Terminal", "duration_ms": 120000, "title": "make test"},
        {"event_id": "c7-2026-11-22-000002", "kind": "key_timing", "occurred_at": "2026-11-22T08:30:05Z",
         "application": "Terminal", "payload": {"intervals_ms": [110, 95, 180], "keys": 3}},
    ],
}
MAX_LINE = MAX_BODY
MAX_BULK = 2 * 1024**3  # 2 GiB in one request


@operation(bp, "POST", "/ingest/bulk", scope=Scope.INGEST, summary="Send many batches as NDJSON (backfills)",
           description="One batch per line (each line as the body of POST /ingest, at most 16 MiB), up to 2 GiB in "
                       "one request, read as it streams in. Each line is stored whole or not at all, in its own "
                       "transaction, and answered by one line in the same order: `status` 200 with the counts, or "
                       "the line's problem. A line too long to read ends the answer there; resend from that line "
                       "(lines already stored come back as duplicates).",
           body=s.IngestBatch, body_media_type=NDJSON, body_examples={"backfill": "\n".join([
               msgspec.json.encode(EXAMPLE_BACKFILL).decode(), msgspec.json.encode(EXAMPLE_REFUSED_BATCH).decode()]) + "\n"},
           answers=[Answer(200, "One answer line per batch line.", s.BulkLine, {"backfill": "\n".join([
               msgspec.json.encode(s.BulkLine(line=1, status=200, stored=2, duplicates=0)).decode(),
               msgspec.json.encode(s.BulkLine(line=2, status=422, problem=s.Problem(
                   type="/api/docs#problem-batch-refused", title="Batch refused", status=422,
                   detail="2 record(s) were refused; nothing of the batch was stored.", refused_count=2, refused=[
                       s.RefusedRecord("event", 0, Reason.TIME_OUT_OF_RANGE,
                                       "occurred_at is before 2000: no capture agent recorded it"),
                       s.RefusedRecord("event", 1, Reason.HIDDEN_CHARACTERS,
                                       "application contains bidirectional-control or zero-width characters")]))
               ).decode()]) + "\n"}, NDJSON),
               Answer(415, "The body is not application/x-ndjson.", s.Problem, {"not-ndjson-type": msgspec.to_builtins(
                   s.Problem(type="/api/docs#problem-unsupported-media-type", title="Unsupported media type",
                             status=415, detail="The body must be application/x-ndjson."))}, MEDIA_TYPE)])
def ingest_bulk(token: ApiToken) -> Response:
    if request.mimetype != NDJSON:
        return problem("unsupported-media-type", "The body must be application/x-ndjson.")
    request.max_content_length = MAX_BULK
    # Buffered: werkzeug's own stream reads a long line a few bytes at a time (20 s for 18 MiB).
    stream = io.BufferedReader(request.stream, 1024 * 1024)  # type: ignore[type-var]
    answers: list[bytes] = []
    number = 0
    while line := stream.readline(MAX_LINE + 1):
        number += 1
        if len(line) > MAX_LINE and not line.endswith(b"\n"):
            answers.append(msgspec.json.encode(s.BulkLine(line=number, status=413, problem=body(
                "too-large", f"Line {number} is longer than {MAX_LINE // (1024 * 1024)} MiB; nothing after it was read."))))
            break
        if not line.strip():
            continue
        outcome = _take(token, line)
        db.session.commit()  # each line on its own
        if isinstance(outcome, s.Problem):
            answers.append(msgspec.json.encode(s.BulkLine(line=number, status=outcome.status, problem=outcome)))
        else:
            answers.append(msgspec.json.encode(s.BulkLine(line=number, status=200, stored=outcome.stored,
                                                          duplicates=outcome.duplicates)))
    return Response(b"".join(a + b"\n" for a in answers), mimetype=NDJSON)


EXAMPLE_PSEUDONYM = "tp_5x4kq2m7ncz3vwe6rfh2tjyabu"
EXAMPLE_PSEUDONYM_2 = "tp_q3hd7ekw2mzr6ny4vbc5ajtu2x"
EXAMPLE_CURSOR = "cnQ3X2Jc0mJ8b2t1qYyS4g"
EXCLUSION_EXAMPLE = {"pseudonym": EXAMPLE_PSEUDONYM, "purpose": "ai_training", "excluded": True, "state": "excluded",
                     "reason": "objection_upheld", "since": "2026-11-20T10:15:00Z", "categories": None}
WITHDRAWN_EXAMPLE = {"pseudonym": EXAMPLE_PSEUDONYM_2, "purpose": "ai_training", "excluded": True,
                     "state": "excluded", "reason": "consent_withdrawn", "since": "2026-11-21T09:00:00Z",
                     "categories": None}
GIVEN_AGAIN_EXAMPLE = {**WITHDRAWN_EXAMPLE, "excluded": False, "state": "lifted", "since": "2026-11-25T16:40:00Z"}


@operation(bp, "GET", "/exclusions", scope=Scope.EXCLUSIONS_READ,
           summary="Changes to who is excluded, as a feed to poll",
           description="Every start and end of an exclusion, in the order they happened: who must not be used "
                       "(`state: excluded`) or may be used again (`state: lifted`: consent given again, a "
                       "restriction lifted), for which purpose (`ai_training`, `screenshot_capture`, "
                       "`analytics` for a restriction of processing or an upheld objection to productivity analytics "
                       "and profiling, `security_monitoring` for an upheld objection to it), since when and why. 500 a page; keep `next` "
                       "and ask again with `?after=<next>` to get exactly the changes made since. Replaying the "
                       "feed from the start (without `after`) and keeping the last state per pseudonym, purpose "
                       "and reason gives the exclusions in force. People who never consented to AI training are "
                       "not in the feed; the single check reports them (`consent_not_given`).",
           params=[Param("after", "query", "The `next` of the previous page (opaque).", EXAMPLE_CURSOR, False)],
           answers=[Answer(200, "A page of changes.", s.ExclusionPage, {"feed": {
               "items": [EXCLUSION_EXAMPLE, WITHDRAWN_EXAMPLE, GIVEN_AGAIN_EXAMPLE], "next": EXAMPLE_CURSOR,
               "more": False}}),
               Answer(400, "The cursor was not given by this feed.", s.Problem, {"bad-cursor": msgspec.to_builtins(
                   s.Problem(type="/api/docs#problem-bad-cursor", title="Bad cursor", status=400,
                             detail="the cursor was not given by this feed"))}, MEDIA_TYPE)])
def exclusions(token: ApiToken) -> Response:
    try:
        items, next_cursor, more = feed.page(request.args.get("after"))
    except feed.BadCursor as exc:
        return problem("bad-cursor", str(exc))
    return json_response(s.ExclusionPage(items=items, next=next_cursor, more=more))


@operation(bp, "GET", "/exclusions/<pseudonym>", scope=Scope.EXCLUSIONS_READ,
           summary="Check one employee before use",
           description="Every purpose the employee's data must not be used for now, including AI training "
                       "without consent given (`consent_not_given`). An empty list: nothing excludes them.",
           params=[Param("pseudonym", "path", "The employee's id in training data.", EXAMPLE_PSEUDONYM,
                         pattern="^tp_[a-z2-7]{26}$")],
           answers=[Answer(200, "The exclusions in force.", s.ExclusionCheck, {"check": {
               "pseudonym": EXAMPLE_PSEUDONYM, "exclusions": [EXCLUSION_EXAMPLE]}}),
               Answer(404, "No employee has this pseudonym.", s.Problem, {"unknown": msgspec.to_builtins(
                   s.Problem(type="/api/docs#problem-not-found", title="Not found", status=404,
                             detail="No employee has this pseudonym."))}, MEDIA_TYPE)])
def exclusion(token: ApiToken, pseudonym: str) -> Response:
    items = feed.check(pseudonym)
    if items is None:
        return problem("not-found", "No employee has this pseudonym.")
    return json_response(s.ExclusionCheck(pseudonym=pseudonym, exclusions=items))


EXAMPLE_REQUEST_ID = "3f1c9a7e5b2d4c6e8a0b1c2d3e4f5a6b"


@operation(bp, "GET", "/requests/<request_id>", scope=Scope.REQUESTS_READ,
           summary="A request's state and deadline",
           description="For service desks: the state and deadline of a data-subject request, nothing else.",
           params=[Param("request_id", "path", "The request's id.", EXAMPLE_REQUEST_ID, pattern="^[0-9a-f]{32}$")],
           answers=[Answer(200, "The state and deadline.", s.RequestStatus, {"status": {
               "id": EXAMPLE_REQUEST_ID, "state": "in_review", "due": "2026-12-23", "extended_due": None,
               "open": True}}),
               Answer(404, "No request has this id.", s.Problem, {"unknown": msgspec.to_builtins(
                   s.Problem(type="/api/docs#problem-not-found", title="Not found", status=404,
                             detail="No request has this id."))}, MEDIA_TYPE)])
def request_status(token: ApiToken, request_id: str) -> Response:
    found = db.session.get(DataRequest, request_id) if re.fullmatch(r"[0-9a-f]{32}", request_id) else None
    if found is None:
        return problem("not-found", "No request has this id.")
    return json_response(s.RequestStatus(id=found.id, state=str(found.state), due=found.due_on,
                                 extended_due=found.extended_due_on, open=found.is_open))


@bp.get("/openapi.json")
@public
def openapi_json() -> Response:
    return json_response(document())


@docs_bp.get("/api/docs")
@public
def reference() -> str:
    return render_template("api/docs.html", doc=document(), pretty=_pretty)


def _pretty(value: Any) -> str:
    return msgspec.json.format(msgspec.json.encode(value), indent=2).decode()


def _api_error(error: Exception) -> Response | None:
    """Errors under /api as problem details (the pages keep their HTML error pages)."""
    if not request.path.startswith("/api/") or request.path == "/api/docs":
        return None
    if isinstance(error, ApiProblem):
        return error.response
    if isinstance(error, Busy):  # a lock not free in time, or an erasure dropping the person's tables
        db.session.rollback()
        return problem("busy", "The portal is busy; nothing was stored. Try again.", {"Retry-After": "30"})
    if isinstance(error, HTTPException):
        code = error.code or 500
        slug = {404: "not-found", 405: "method-not-allowed", 413: "too-large", 400: "malformed-json"}.get(code)
        if slug == "too-large":
            return problem(slug, f"The body is larger than {MAX_BODY // (1024 * 1024)} MiB; send smaller batches.")
        if slug:
            return problem(slug, {404: "Nothing is here.", 405: "This path does not take this method.",
                                  400: "The request could not be read."}[code])
    db.session.rollback()
    return problem("server-error", "The portal failed; nothing was stored.")


def register(app: Flask) -> None:
    from portal.api import training as _training  # noqa: F401  (its operations, on bp)
    from portal.recipients import api as _recipient_api  # noqa: F401  (declares its operations on bp)

    app.session_interface = NoSessionUnder(app.session_interface, bp.url_prefix + "/")  # type: ignore[operator]
    app.register_blueprint(bp)
    app.register_blueprint(docs_bp)
    csrf.exempt(bp)  # bearer tokens only: a browser never sends one by itself
    errors.add_renderer(_api_error)
