"""A property-based run over the OpenAPI document (schemathesis): requests made from its schemas,
valid and not, with a token of every scope the API has; no answer is a server error, and every
answer is one the document declares, of its media type and valid against its schema."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import msgspec
import schemathesis
import sqlalchemy as sa
from flask import Flask
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)
from schemathesis.core.result import Ok

from portal.api.models import ApiToken
from portal.api.schemas import BulkLine
from portal.audit.services import Actor
from portal.extensions import db
from portal.recipients import services as recipients
from tests.helpers import make_employee


@schemathesis.serializer("application/x-ndjson")
def _ndjson_body(ctx: Any, value: Any) -> bytes:
    """A generated batch as one NDJSON line (the bulk endpoint takes one batch a line)."""
    return json.dumps(value).encode() + b"\n"


@schemathesis.deserializer("application/x-ndjson")
def _ndjson_answer(ctx: Any, response: Any) -> Any:
    """The bulk answer: every line must decode as a BulkLine; the first is what the schema sees."""
    lines = [msgspec.json.decode(line, type=BulkLine) for line in response.content.splitlines() if line.strip()]
    return msgspec.to_builtins(lines[0]) if lines else {}


CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]


def test_no_server_error_and_every_answer_as_documented(app: Flask, make_token: Callable[..., str]) -> None:
    alice = make_employee(app, "alice@example.com", employee_number="E1001")
    app.config["API_RATE_LIMIT"] = "100000 per minute"
    token = make_token('ingest', 'exclusions:read', 'requests:read', 'training', 'recipient')
    with app.app_context():  # the token is a recipient's too, with a task of its own to list and confirm
        recipient, _ = recipients.create_recipient(
            name="AI Research", contact="ai@example.com", categories=["input_events"], uses=[], purpose="Models",
            role="processor", delivery="pull", webhook_url=None, actor=Actor.system())
        db.session.execute(sa.update(ApiToken).values(recipient_id=recipient.id))
        recipients.open_tasks(alice, recipients.Affected(recipients.TaskAction.ERASE), request=None)
        db.session.commit()
    headers = {"Authorization": f"Bearer {token}"}
    schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", app)
    results = list(schema.get_all_operations())
    assert all(isinstance(result, Ok) for result in results), results
    operations = [result.ok() for result in results if isinstance(result, Ok)]
    assert len(operations) == 16
    for operation in operations:
        @given(case=operation.as_strategy())
        @settings(max_examples=40, deadline=None, database=None, suppress_health_check=list(HealthCheck))
        def exercise(case: schemathesis.Case) -> None:
            case.call_and_validate(headers=headers, checks=CHECKS)

        exercise()
