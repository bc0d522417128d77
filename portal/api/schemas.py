"""The API's bodies, declared once as msgspec structs: they decode and check what comes in, encode
what goes out, and are the schemas of the OpenAPI document (msgspec writes JSON Schema 2020-12,
the dialect of OpenAPI 3.1)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any, Literal

import msgspec
from msgspec import Meta, Struct

from portal.monitoring import ingest
from portal.monitoring.ingest import Reason
from portal.monitoring.models import EventKind

SourceId = Annotated[str, Meta(pattern=ingest.SOURCE_ID.pattern, description="The collector's own id of the "
                               "record (1-64 letters, digits, `.`, `_`, `:` or `-`); a record whose id was "
                               "stored before for the same employee is a duplicate, not stored again.")]
Moment = Annotated[datetime, Meta(tz=True, description="RFC 3339 time with a zone offset; from 2000 to one "
                                  "day ahead of the portal's clock.")]
Text120 = Annotated[str, Meta(min_length=1, max_length=120, description="No control, bidirectional-control or "
                              "zero-width characters.")]


class Event(Struct, forbid_unknown_fields=True, omit_defaults=True):
    """One input or activity event. `application`, `site_domain`, `url`, `title`, `x`, `y` and
    `payload` are sealed with the employee's key (the application and site also kept as keyed
    blind indexes under that key, for filtering); `event_id`, `kind`, `occurred_at` and
    `duration_ms` are kept in clear for the dashboards."""

    event_id: SourceId
    kind: EventKind
    occurred_at: Moment
    application: Text120
    site_domain: Annotated[str, Meta(max_length=253, description="Host name only, e.g. `github.com`.")] | None = None
    duration_ms: Annotated[int, Meta(ge=0, le=86_400_000)] | None = None
    url: Annotated[str, Meta(max_length=2048, description="http or https.")] | None = None
    title: Annotated[str, Meta(max_length=1000, description="The window title. No control, "
                               "bidirectional-control or zero-width characters.")] | None = None
    x: Annotated[int, Meta(ge=-100_000, le=100_000)] | None = None
    y: Annotated[int, Meta(ge=-100_000, le=100_000)] | None = None
    payload: Annotated[dict[str, Any], Meta(description=f"At most {ingest.MAX_PAYLOAD_BYTES} bytes as JSON.")] | None = None


class Screenshot(Struct, forbid_unknown_fields=True, omit_defaults=True):
    """One screenshot. `image` is the PNG, JPEG or WebP file itself, base64-encoded (RFC 4648
    section 4, with padding) inside the JSON string; it, `application` and `site_domain` are
    sealed with the employee's key. `captured_at` and the image's size and type are kept in clear."""

    screenshot_id: SourceId
    captured_at: Moment
    application: Text120
    image: Annotated[bytes, Meta(description=f"Base64 of the file's bytes: at most "
                                 f"{ingest.MAX_IMAGE_BYTES // (1024 * 1024)} MB decoded and "
                                 f"{ingest.MAX_PIXELS:,} pixels ({ingest.MAX_SIDE} a side), read from the "
                                 "header before anything is decoded.")]
    site_domain: Annotated[str, Meta(max_length=253)] | None = None


class IngestBatch(Struct, forbid_unknown_fields=True):
    """A batch for one employee, named by exactly one of `employee_number` and `email` (their work
    e-mail address). Stored whole or not at all."""

    employee_number: Annotated[str, Meta(min_length=1, max_length=64)] | None = None
    email: Annotated[str, Meta(min_length=3, max_length=320)] | None = None
    events: Annotated[list[Event], Meta(max_length=10_000)] = []
    screenshots: Annotated[list[Screenshot], Meta(max_length=100)] = []


class IngestEnvelope(Struct, forbid_unknown_fields=True):
    """What is decoded first: the records stay raw so that each is checked on its own and every
    refused one is named (see IngestBatch for their schema)."""

    employee_number: str | None = None
    email: str | None = None
    events: Annotated[list[msgspec.Raw], Meta(max_length=10_000)] = []
    screenshots: Annotated[list[msgspec.Raw], Meta(max_length=100)] = []


class RecordResult(Struct):
    index: int
    id: str
    result: Literal["stored", "duplicate"]


class IngestAnswer(Struct):
    """What became of each record. A collector cannot read anything back beyond this."""

    stored: int
    duplicates: int
    refused: int
    events: list[RecordResult]
    screenshots: list[RecordResult]


class RefusedRecord(Struct):
    record: Literal["batch", "event", "screenshot"]
    index: int | None
    reason: Reason
    detail: str


class FieldProblem(Struct):
    pointer: str
    detail: str


class RefusedMember(Struct):
    index: int
    reason: Literal["unknown_subject", "duplicate", "excluded"]


class Problem(Struct, omit_defaults=True):
    """RFC 9457 problem details. `type` is stable for each kind of error; `refused` lists every
    refused record of a refused batch (the first 100; `refused_count` says how many in all)."""

    type: str
    title: str
    status: int
    detail: str
    reason: Reason | None = None
    refused: list[RefusedRecord] | None = None
    refused_count: int | None = None
    errors: list[FieldProblem] | None = None
    members: list[RefusedMember] | None = None


class BulkLine(Struct, omit_defaults=True):
    """The answer to one line of a bulk upload (lines count from 1)."""

    line: int
    status: int
    stored: int | None = None
    duplicates: int | None = None
    problem: Problem | None = None


ExclusionPurpose = Literal["ai_training", "screenshot_capture", "analytics", "security_monitoring"]
ExclusionReason = Literal["consent_not_given", "consent_withdrawn", "objection_upheld", "restriction", "erasure"]


class Exclusion(Struct):
    """A change in whether an employee's data may be used for a purpose: `state` `excluded` (and
    `excluded: true`) starts an exclusion, `lifted` (`excluded: false`) ends the one of that
    purpose and reason (consent given again, a restriction lifted); `since` is when. In the single
    check, every item is an exclusion in force."""

    pseudonym: str
    purpose: ExclusionPurpose
    excluded: bool
    state: Literal["excluded", "lifted"]
    reason: ExclusionReason | None
    since: datetime
    categories: list[str] | None = None


class ExclusionPage(Struct):
    """One page of changes, in the order they were made. Poll again with `?after=<next>` (an
    opaque cursor); `more` says whether another page is waiting now."""

    items: list[Exclusion]
    next: str
    more: bool


class ExclusionCheck(Struct):
    """Every purpose the employee's data must not be used for now (empty: none)."""

    pseudonym: str
    exclusions: list[Exclusion]


class RequestStatus(Struct):
    """A request's state and deadline only: nothing about the person or what they asked."""

    id: str
    state: str
    due: date | None
    extended_due: date | None
    open: bool


# -- recipient systems' tasks (scope recipient) -------------------------------------------------

TaskAction = Literal["erase", "rectify", "restrict", "lift_restriction", "stop_processing", "stop_training"]
TaskOutcome = Literal["done", "not_applicable", "refused"]


class TaskSubject(Struct, omit_defaults=True):
    """Whom the task is about: the pseudonymous training id (`tp_...`, the one the exclusions feed
    uses). `name` only for an internal team that needs it to find the data."""

    pseudonym: str
    name: str | None = None


class TaskPeriod(Struct):
    """The days the task covers (either end open: `null`), in the person's time zone."""

    date_from: date | None
    date_to: date | None


class Correction(Struct):
    """A rectification: what was wrong and what it should say, as the person wrote it."""

    wrong: str
    correct: str


class ConfirmationDetails(Struct, forbid_unknown_fields=True, omit_defaults=True):
    """What was done, as far as it can be counted: rows deleted, the new training-set snapshot."""

    rows_deleted: Annotated[int, Meta(ge=0, le=2**53)] | None = None
    snapshot_id: Annotated[str, Meta(min_length=1, max_length=120)] | None = None


class TaskConfirmation(Struct, omit_defaults=True):
    outcome: TaskOutcome
    confirmed_at: datetime
    via: Literal["api", "link"]
    reason: str | None = None
    details: ConfirmationDetails | None = None


class RecipientTaskItem(Struct):
    """One task: what to do (`action`), for whom, which categories and period, by when (`due`, a
    day inside the request's own deadline). `state` is `open`, `confirmed`, or `escalated` (its
    deadline passed unconfirmed and the DPO took it up; it can still be confirmed)."""

    id: str
    action: TaskAction
    subject: TaskSubject
    categories: list[str]
    period: TaskPeriod | None
    correction: Correction | None
    due: date
    request: str | None
    created_at: datetime
    state: Literal["open", "confirmed", "escalated"]
    confirmation: TaskConfirmation | None


class RecipientTaskPage(Struct):
    """One page of this recipient's tasks, oldest first. Ask again with `?after=<next>` while
    `more` is true."""

    items: list[RecipientTaskItem]
    next: str | None
    more: bool


class ConfirmBody(Struct, forbid_unknown_fields=True):
    """The recipient's answer: `done`, `not_applicable` (it holds none of this data) or `refused`
    (with `reason`, required)."""

    outcome: TaskOutcome
    reason: Annotated[str, Meta(min_length=1, max_length=2000)] | None = None
    details: ConfirmationDetails | None = None


class ConfirmAnswer(Struct):
    """The task as confirmed. `first` is false when it had been confirmed before: nothing changed,
    and `task.confirmation` is the first answer."""

    first: bool
    task: RecipientTaskItem


class WebhookEvent(Struct):
    """The body of a webhook delivery, signed by the Standard Webhooks headers."""

    type: Literal["recipient_task.created"]
    timestamp: datetime
    data: RecipientTaskItem
