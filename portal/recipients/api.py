"""``/api/v1/recipient-tasks``: a recipient system lists its tasks and confirms each (scope
``recipient``, a token bound to that recipient). Another recipient's task is not found (404), as
is anything else that is not the token's. A second confirmation changes nothing: it is answered
200 with the task as first confirmed and ``first: false``, so that a client retrying after a lost
answer learns what was recorded."""

from __future__ import annotations

import re
from typing import Any

import msgspec
from flask import request
from sqlalchemy import and_, or_, select
from werkzeug.wrappers import Response

from portal.api import schemas as s
from portal.api.models import ApiToken
from portal.api.openapi import Answer, Param, operation
from portal.api.problems import MEDIA_TYPE, problem
from portal.api.views import EXAMPLE_PSEUDONYM, EXAMPLE_REQUEST_ID, bp, decode_body, json_response
from portal.audit.services import Actor
from portal.extensions import db
from portal.security import Scope

from . import services
from .models import Recipient, RecipientTask
from .payload import item

PAGE = 100
_ID = re.compile(r"^[0-9a-f]{32}$")
_CONFIRM = msgspec.json.Decoder(s.ConfirmBody)
EXAMPLE_TASK_ID = "5c0ffee1d2e3f4a5b6c7d8e9f0a1b2c3"
EXAMPLE_TASK: dict[str, Any] = {
    "id": EXAMPLE_TASK_ID, "action": "erase", "subject": {"pseudonym": EXAMPLE_PSEUDONYM},
    "categories": ["input_events", "app_activity"], "period": None, "correction": None, "due": "2026-12-30",
    "request": "R-" + EXAMPLE_REQUEST_ID[:8].upper(), "created_at": "2026-12-04T16:20:00Z", "state": "open", "confirmation": None,
}
EXAMPLE_CONFIRMED: dict[str, Any] = {**EXAMPLE_TASK, "state": "confirmed", "confirmation": {
    "outcome": "done", "confirmed_at": "2026-12-05T09:12:00Z", "via": "api",
    "details": {"rows_deleted": 1204, "snapshot_id": "ds-activity-2026-12-05"}}}
CONFIRM_DONE = {"outcome": "done", "details": {"rows_deleted": 1204, "snapshot_id": "ds-activity-2026-12-05"}}
NOT_FOUND = msgspec.to_builtins(s.Problem(type="/api/docs#problem-not-found", title="Not found", status=404,
                                          detail="This recipient has no such task."))


def _recipient(token: ApiToken) -> Recipient | None:
    """The recipient the token is bound to; a token of the scope bound to none sees no task."""
    return db.session.get(Recipient, token.recipient_id) if token.recipient_id else None


@operation(bp, "GET", "/recipient-tasks", scope=Scope.RECIPIENT,
           summary="This recipient's tasks",
           description="Every task given to the recipient system the token is bound to, oldest first, 100 a page "
                       "(`?state=open` for those still waiting for an answer). The subject is the pseudonymous "
                       "training id; a rectification carries the correction. Confirm each with "
                       "`POST /api/v1/recipient-tasks/{task_id}/confirm`. A token of the scope that is not "
                       "bound to a recipient (made at /admin/api-tokens rather than /admin/recipients) sees none.",
           params=[Param("after", "query", "The `next` of the previous page.", EXAMPLE_TASK_ID, required=False,
                         pattern="^[0-9a-f]{32}$"),
                   Param("state", "query", "`open` (open or escalated, not yet confirmed) or `all` (the default).",
                         "open", required=False, pattern="^(open|all)$")],
           answers=[Answer(200, "A page of tasks.", s.RecipientTaskPage, {"page": {
               "items": [EXAMPLE_TASK], "next": EXAMPLE_TASK_ID, "more": False}}),
               Answer(400, "The cursor is not one of this feed's, or the state filter is neither open nor all.", s.Problem, {"bad-cursor": msgspec.to_builtins(
                   s.Problem(type="/api/docs#problem-bad-cursor", title="Bad cursor", status=400,
                             detail="The after cursor does not name a task of this recipient.")),
                   "bad-state": msgspec.to_builtins(
                   s.Problem(type="/api/docs#problem-bad-query", title="Bad query parameter", status=400,
                             detail="The state filter is open or all."))}, MEDIA_TYPE)])
def recipient_tasks(token: ApiToken) -> Response:
    recipient = _recipient(token)
    if recipient is None:
        return json_response(s.RecipientTaskPage(items=[], next=None, more=False))
    query = select(RecipientTask).where(RecipientTask.recipient_id == recipient.id)
    if request.args.get("state", "all") == "open":
        query = query.where(RecipientTask.outcome.is_(None))
    elif request.args.get("state", "all") != "all":
        return problem("bad-query", "The state filter is open or all.")
    after = request.args.get("after")
    if after:
        last = db.session.get(RecipientTask, after) if _ID.match(after) else None
        if last is None or last.recipient_id != recipient.id:
            return problem("bad-cursor", "The after cursor does not name a task of this recipient.")
        query = query.where(or_(RecipientTask.created_at > last.created_at,
                                and_(RecipientTask.created_at == last.created_at, RecipientTask.id > last.id)))
    rows = list(db.session.scalars(query.order_by(RecipientTask.created_at, RecipientTask.id).limit(PAGE + 1)))
    more = len(rows) > PAGE
    rows = rows[:PAGE]
    return json_response(s.RecipientTaskPage(items=[item(t, recipient) for t in rows],
                                     next=rows[-1].id if rows else after, more=more))


@operation(bp, "POST", "/recipient-tasks/<task_id>/confirm", scope=Scope.RECIPIENT,
           summary="Confirm a task",
           description="Say what was done: `done` (with `details` where they can be counted: rows deleted, the "
                       "new training-set snapshot), `not_applicable` (the recipient holds none of this data) or "
                       "`refused` with a `reason` (for example `{\"outcome\": \"refused\", \"reason\": \"Kept under "
                       "our own legal obligation to retain security logs\"}`). Recorded once, with its audit entry, and shown to the person and "
                       "in their deletion certificate and evidence pack. A second confirmation changes nothing: the "
                       "answer is 200 with `first: false` and the first confirmation. A webhook recipient confirms "
                       "here too.",
           params=[Param("task_id", "path", "The task's id.", EXAMPLE_TASK_ID, pattern="^[0-9a-f]{32}$")],
           body=s.ConfirmBody, body_examples={"done": CONFIRM_DONE, "repeated": CONFIRM_DONE},
           answers=[Answer(200, "The task as confirmed.", s.ConfirmAnswer, {
               "done": {"first": True, "task": EXAMPLE_CONFIRMED},
               "repeated": {"first": False, "task": EXAMPLE_CONFIRMED}}),
               Answer(404, "No task of this recipient has this id.", s.Problem, {"unknown": NOT_FOUND}, MEDIA_TYPE),
               Answer(422, "The body is not a confirmation.", s.Problem, {"refused-without-reason": msgspec.to_builtins(
                   s.Problem(type="/api/docs#problem-invalid-body", title="Invalid body", status=422,
                             detail="A refusal needs a reason."))}, MEDIA_TYPE)])
def confirm_recipient_task(token: ApiToken, task_id: str) -> Response:
    recipient = _recipient(token)
    task = db.session.get(RecipientTask, task_id) if _ID.match(task_id) else None
    if task is None or recipient is None or task.recipient_id != recipient.id:
        return problem("not-found", "This recipient has no such task.")
    body = decode_body(_CONFIRM)
    details = body.details or s.ConfirmationDetails()
    try:
        done = services.confirm(task, body.outcome, reason=body.reason, rows_deleted=details.rows_deleted,
                                snapshot_id=details.snapshot_id, via="api",
                                actor=Actor("api-token", token.id))
    except services.RecipientError as exc:
        db.session.rollback()
        return problem("invalid-body", str(exc))
    return json_response(s.ConfirmAnswer(first=done.first, task=item(done.task, recipient)))
