"""The OpenAPI 3.1 document, made from the operations as they are declared: each view is declared
once with :func:`operation` (path, scope, body and answers with their msgspec types and examples),
which registers its route and its entry in the document."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import msgspec
from flask import Blueprint
from werkzeug.wrappers import Response

from portal.api.auth import bearer
from portal.api.problems import KINDS, MEDIA_TYPE, body
from portal.api.schemas import Problem
from portal.security import Scope

JSON = "application/json"
PREFIX = "/api/v1"


@dataclass
class Answer:
    status: int
    description: str
    schema: Any = None  # a msgspec type; None for no body
    examples: dict[str, Any] = field(default_factory=dict)  # name -> value; a request example of the same name gets it
    media_type: str = JSON
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class Param:
    name: str
    where: str  # path or query
    description: str
    example: str
    required: bool = True
    pattern: str | None = None


@dataclass
class Operation:
    method: str
    path: str  # OpenAPI form: /api/v1/exclusions/{pseudonym}
    operation_id: str
    summary: str
    description: str
    scope: Scope
    answers: list[Answer]
    body: Any = None
    body_examples: dict[str, Any] = field(default_factory=dict)
    body_media_type: str = JSON
    params: list[Param] = field(default_factory=list)


OPERATIONS: list[Operation] = []


def _problem_example(slug: str, detail: str, **extra: Any) -> Any:
    return msgspec.to_builtins(body(slug, detail, **extra))


def standard_answers(scope: Scope) -> list[Answer]:
    """What every operation may answer besides its own."""
    return [
        Answer(401, "No working token.", Problem, {"no-token": _problem_example(
            "unauthorized", "Send the service token as `Authorization: Bearer <token>`.")}, MEDIA_TYPE,
            {"WWW-Authenticate": "`Bearer realm=\"portal-api\"`, with `error=\"invalid_token\"` for a bad token."}),
        Answer(403, "The token lacks the scope.", Problem, {"wrong-scope": _problem_example(
            "forbidden-scope", f"This operation needs the scope {scope.value}.")}, MEDIA_TYPE,
            {"WWW-Authenticate": f"`Bearer realm=\"portal-api\", error=\"insufficient_scope\", scope=\"{scope.value}\"`"}),
        Answer(429, "The token's rate limit is reached.", Problem, {"rate-limited": _problem_example(
            "rate-limited", "This token's rate limit is reached; try again in 12 s.")}, MEDIA_TYPE,
            {"Retry-After": "Seconds to wait."}),
    ]


def operation(bp: Blueprint, method: str, rule: str, *, scope: Scope, summary: str, description: str,
              answers: list[Answer], body: Any = None, body_examples: dict[str, Any] | None = None,
              body_media_type: str = JSON, params: list[Param] | None = None
              ) -> Callable[[Callable[..., Response]], Callable[..., Response]]:
    """Declare an operation: its route on ``bp`` (under /api/v1, behind a bearer token with
    ``scope``) and its entry in the document."""

    def decorator(view: Callable[..., Response]) -> Callable[..., Response]:
        wrapped = bearer(scope)(view)
        bp.add_url_rule(rule, view.__name__, wrapped, methods=[method])
        OPERATIONS.append(Operation(
            method=method.lower(), path=PREFIX + re.sub(r"<(?:[a-z]+:)?([a-z_]+)>", r"{\1}", rule),
            operation_id=view.__name__, summary=summary, description=description, scope=scope,
            answers=[*answers, *standard_answers(scope)], body=body, body_examples=body_examples or {},
            body_media_type=body_media_type, params=params or []))
        return wrapped

    return decorator


def _content(schema_ref: dict[str, Any] | None, examples: dict[str, Any], media_type: str) -> dict[str, Any]:
    entry: dict[str, Any] = {}
    if schema_ref is not None:
        entry["schema"] = schema_ref
    entry["examples"] = {name: {"value": value} for name, value in examples.items()}
    return {media_type: entry}


def document(version: str = "1.0.0") -> dict[str, Any]:
    types: list[Any] = []
    for op in OPERATIONS:
        if op.body is not None:
            types.append(op.body)
        types.extend(a.schema for a in op.answers if a.schema is not None)
    unique = list(dict.fromkeys(types))
    refs, components = msgspec.json.schema_components(unique, ref_template="#/components/schemas/{name}")
    ref_of = dict(zip(unique, refs, strict=True))
    paths: dict[str, dict[str, Any]] = {}
    for op in OPERATIONS:
        entry: dict[str, Any] = {
            "operationId": op.operation_id, "summary": op.summary, "description": op.description,
            "tags": [op.path.split("/")[3]], "security": [{"bearer": [op.scope.value]}],
            "x-scope": op.scope.value,
            "responses": {},
        }
        if op.params:
            entry["parameters"] = [{
                "name": p.name, "in": p.where, "required": p.required, "description": p.description,
                "schema": {"type": "string", **({"pattern": p.pattern} if p.pattern else {})}, "example": p.example,
            } for p in op.params]
        if op.body is not None:
            entry["requestBody"] = {"required": True,
                                    "content": _content(ref_of[op.body], op.body_examples, op.body_media_type)}
        for answer in op.answers:
            response: dict[str, Any] = {"description": answer.description}
            if answer.schema is not None:
                response["content"] = _content(ref_of[answer.schema], answer.examples, answer.media_type)
            if answer.headers:
                response["headers"] = {name: {"description": text, "schema": {"type": "string"}}
                                       for name, text in answer.headers.items()}
            entry["responses"][str(answer.status)] = response
        paths.setdefault(op.path, {})[op.method] = entry
    return {
        "openapi": "3.1.0",
        "jsonSchemaDialect": "https://json-schema.org/draft/2020-12/schema",
        "info": {"title": "Privacy Portal integrations API", "version": version,
                 "description": "Collectors send monitoring data in; the AI-training pipeline and service desks "
                                "ask what they may use and where a request stands. Errors are RFC 9457 problem "
                                "details (`application/problem+json`); every `type` is listed at /api/docs."},
        "servers": [{"url": "/"}],
        "paths": paths,
        "components": {
            "schemas": components,
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer",
                                           "description": "A service token made by an administrator "
                                                          "(`/admin/api-tokens` or `flask --app wsgi api token create`)."}},
        },
        "x-problem-types": [{"type": k.type, "status": k.status, "title": k.title, "meaning": k.meaning}
                            for k in KINDS.values()],
    }
