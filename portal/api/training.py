"""``/api/v1/training``: the training-set ledger, for the AI-training pipeline (scope ``training``).

It registers data sets, snapshots with their members (by pseudonym, in bulk) and models trained on
snapshots; reads the removals a right exercised made necessary; and answers them per snapshot (a
new snapshot whose membership the portal checks, the snapshot deleted, or a legal basis to keep
it) and per model (retrained as a registered version, unlearning applied, kept with a basis).
Every call is audited with counts, never lists of people (training.services)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any, Literal

import msgspec
from flask import request
from msgspec import Meta, Struct
from werkzeug.wrappers import Response

from portal.api import schemas as s
from portal.api.models import ApiToken
from portal.api.openapi import JSON, Answer, Param, operation
from portal.api.problems import MEDIA_TYPE, body, problem, respond
from portal.api.views import EXAMPLE_PSEUDONYM, bp, schema_message
from portal.audit.services import Actor, record
from portal.extensions import db
from portal.people.pseudonyms import SHAPE, pseudonym, subject_of
from portal.security import Scope
from portal.training import services as ledger
from portal.training.models import ModelAction, RemovalAnswer, TrainingDataset, TrainingSnapshot

NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,119}$"
Name = Annotated[str, Meta(pattern=NAME_PATTERN, description="1-120 letters, digits, `.`, `_`, `:` or `-`.")]
Version = Annotated[str, Meta(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,59}$", description="e.g. `2.2`.")]
Categories = Annotated[list[str], Meta(min_length=1, max_length=10, description="Keys of the register's "
                                       "categories (`input_events`, `app_activity`, `screenshots`, "
                                       "`ai_training_use`).")]
Pseudonym = Annotated[str, Meta(pattern=SHAPE.pattern, description="The employee's id in training data.")]
Basis = Annotated[str, Meta(min_length=1, max_length=1000, description="The legal basis, in plain words.")]
MAX_MEMBERS = 100_000


class DatasetIn(Struct, forbid_unknown_fields=True):
    """A data set: what it is for and which categories of the register feed it."""

    name: Name
    purpose: Annotated[str, Meta(min_length=1, max_length=500)]
    source_categories: Categories


class SnapshotSummary(Struct):
    snapshot: str
    created_on: date
    members: int
    deleted_at: datetime | None


class DatasetOut(Struct):
    name: str
    purpose: str
    source_categories: list[str]
    snapshots: list[SnapshotSummary]


class Member(Struct, forbid_unknown_fields=True):
    subject: Pseudonym
    records: Annotated[int, Meta(ge=0)] | None = None


class SnapshotIn(Struct, forbid_unknown_fields=True):
    """A snapshot of a data set and everyone in it (up to 100,000 members a call). Registered
    whole or not at all: a member who is unknown, named twice, or excluded from AI training now
    (the exclusions) refuses the snapshot."""

    snapshot: Name
    created_on: date
    source_categories: Categories
    members: Annotated[list[Member], Meta(max_length=MAX_MEMBERS)]


class ModelRef(Struct):
    name: str
    version: str


class SnapshotOut(Struct):
    dataset: str
    snapshot: str
    created_on: date
    source_categories: list[str]
    members: int
    deleted_at: datetime | None
    removals_pending: int
    models: list[ModelRef]


class SnapshotRef(Struct, forbid_unknown_fields=True):
    dataset: Name
    snapshot: Name


class ModelIn(Struct, forbid_unknown_fields=True):
    """A model version and the snapshots it was trained on (none declared deleted, none with a
    removal still pending)."""

    name: Name
    version: Version
    trained_on: date
    snapshots: Annotated[list[SnapshotRef], Meta(min_length=1, max_length=1000)]


class OutcomeOut(Struct):
    name: str
    version: str
    dataset: str
    snapshot: str
    action: Literal["retrained", "unlearned", "kept"]
    new_version: str | None
    basis: str | None


class ModelOut(Struct):
    name: str
    version: str
    trained_on: date
    snapshots: list[SnapshotRef]
    outcomes: list[OutcomeOut]


class Removal(Struct):
    """Someone whose data must come out of a snapshot, since when and why."""

    dataset: str
    snapshot: str
    subject: str
    cause: Literal["erasure", "objection", "consent_withdrawn"]
    since: datetime
    models: list[ModelRef]


class RemovalPage(Struct):
    """The removals still waiting for an answer, the oldest first (at most 1,000)."""

    items: list[Removal]
    more: bool


class AnswerIn(Struct, forbid_unknown_fields=True):
    """What was done with a snapshot from which people must be removed: `replaced` by a new
    snapshot of the same data set, registered first, that holds none of them (`replacement`);
    `deleted`; or `kept`, with the legal basis (`basis`). Answers every removal pending on it."""

    answer: Literal["replaced", "deleted", "kept"]
    replacement: Name | None = None
    basis: Basis | None = None


class AnswerOut(Struct):
    dataset: str
    snapshot: str
    answer: str
    answered: int


class OutcomeIn(Struct, forbid_unknown_fields=True):
    """What was done to this model version for a snapshot from which people had to be removed:
    `retrained` as a registered version of the same model not trained on that snapshot
    (`new_version`), `unlearned`, or `kept` with the legal basis (`basis`)."""

    dataset: Name
    snapshot: Name
    action: Literal["retrained", "unlearned", "kept"]
    new_version: Version | None = None
    basis: Basis | None = None


def json_response(value: Any, status: int = 200) -> Response:
    return Response(msgspec.json.encode(value), status=status, mimetype=JSON)


def _decode(kind: type[Any]) -> Any:
    """The body as ``kind``, or raise a problem (nothing of the client's values is echoed)."""
    if request.mimetype != JSON:
        raise _Refused(body("unsupported-media-type", "The body must be application/json."))
    try:
        return msgspec.json.decode(request.get_data(cache=False), type=kind)
    except msgspec.ValidationError as exc:
        detail, pointer = schema_message(str(exc))
        raise _Refused(body("invalid-body", f"The body does not match the schema: {detail}.",
                            errors=[s.FieldProblem(pointer or "/", detail)])) from None
    except (msgspec.DecodeError, UnicodeDecodeError):
        raise _Refused(body("malformed-json", "The body is not valid JSON.")) from None


class _Refused(Exception):
    def __init__(self, answer: s.Problem) -> None:
        super().__init__(answer.detail)
        self.answer = answer


def _refuse(token: ApiToken, call: str, answer: s.Problem) -> Response:
    db.session.rollback()
    record("api:training:refuse", actor=Actor("api-token", token.id), details={"call": call, "problem": answer.type})
    return respond(answer)


def _ledger_problem(exc: ledger.LedgerError) -> s.Problem:
    extra = dict(exc.extra)
    if "refused" in extra:
        extra = {"members": [s.RefusedMember(r.index, r.reason) for r in extra["refused"]],
                 "refused_count": extra["refused_count"]}
    return body(exc.slug, exc.detail, **extra)


def _call(token: ApiToken, call: str, work: Any) -> Response:
    """Run ``work()`` (which returns the response); a refusal is rolled back, audited, answered."""
    try:
        return work()
    except _Refused as exc:
        return _refuse(token, call, exc.answer)
    except ledger.LedgerError as exc:
        return _refuse(token, call, _ledger_problem(exc))


def _read(token: ApiToken, resource: str, items: int) -> None:
    record("api:training:read", actor=Actor("api-token", token.id), details={"resource": resource, "items": items})


def _dataset_out(found: TrainingDataset) -> DatasetOut:
    snaps = db.session.scalars(db.select(TrainingSnapshot).where(TrainingSnapshot.dataset_id == found.id)
                               .order_by(TrainingSnapshot.created_on, TrainingSnapshot.name))
    return DatasetOut(name=found.name, purpose=found.purpose, source_categories=list(found.source_categories or []),
                      snapshots=[SnapshotSummary(x.name, x.created_on, x.member_count, x.deleted_at) for x in snaps])


def _snapshot_out(dataset_name: str, found: TrainingSnapshot) -> SnapshotOut:
    from portal.training.models import ModelSnapshot, TrainingModel

    trained = db.session.scalars(db.select(TrainingModel).join(ModelSnapshot, ModelSnapshot.model_id == TrainingModel.id)
                                 .where(ModelSnapshot.snapshot_id == found.id)
                                 .order_by(TrainingModel.name, TrainingModel.version))
    return SnapshotOut(dataset=dataset_name, snapshot=found.name, created_on=found.created_on,
                       source_categories=list(found.source_categories or []), members=found.member_count,
                       deleted_at=found.deleted_at, removals_pending=ledger.pending_on(found.id),
                       models=[ModelRef(m.name, m.version) for m in trained])


def _model_out(name: str, version: str) -> ModelOut | None:
    from portal.training.models import ModelOutcome, TrainingModel

    found = ledger.model(name, version)
    if found is None:
        return None
    refs = {x.id: SnapshotRef(db.session.get(TrainingDataset, x.dataset_id).name, x.name)  # type: ignore[union-attr]
            for x in ledger.model_snapshots(found.id)}
    outcomes = []
    for o in db.session.scalars(db.select(ModelOutcome).where(ModelOutcome.model_id == found.id)
                                .order_by(ModelOutcome.id)):
        new = db.session.get(TrainingModel, o.new_model_id) if o.new_model_id else None
        ref = refs[o.snapshot_id]
        outcomes.append(OutcomeOut(found.name, found.version, ref.dataset, ref.snapshot, o.action,
                                   new.version if new else None, o.basis))
    return ModelOut(name=found.name, version=found.version, trained_on=found.trained_on,
                    snapshots=list(refs.values()), outcomes=outcomes)


# -- examples ------------------------------------------------------------------------------------------
# They are the answers a portal gives in this order (tests/api/test_openapi.py runs each against a live
# portal holding the data set activity-patterns, its snapshot ap-2026-09-30 of two people, the model
# FocusPredict 2.2 trained on it, and the first person's removal from it pending).

EXAMPLE_MEMBER = "tp_htr4lawnvjuh7ayevranwmcscw"  # pending removal from ap-2026-09-30
EXAMPLE_MEMBER_2 = "tp_dwooqfco3ehxbdoxpprlyyvl2t"
CATEGORIES = ["app_activity", "input_events"]
DATASET_EXAMPLE: dict[str, Any] = {"name": "activity-patterns", "purpose": "Train models that predict focus time and suggest breaks.",
                   "source_categories": CATEGORIES}
NEW_DATASET: dict[str, Any] = {"name": "screen-context", "purpose": "Train a model that recognises the kind of work on screen.",
               "source_categories": ["app_activity", "screenshots"]}
SNAPSHOT_EXAMPLE: dict[str, Any] = {"snapshot": "ap-2026-12-31", "created_on": "2027-01-09", "source_categories": CATEGORIES,
                    "members": [{"subject": EXAMPLE_MEMBER_2, "records": 2980}]}
REPLACEMENT_EXAMPLE: dict[str, Any] = {"snapshot": "ap-2026-09-30-r1", "created_on": "2026-12-05", "source_categories": CATEGORIES,
                       "members": [{"subject": EXAMPLE_MEMBER_2, "records": 2512}]}
REFUSED_SNAPSHOT: dict[str, Any] = {"snapshot": "ap-2026-12-31-b", "created_on": "2027-01-09", "source_categories": CATEGORIES,
                    "members": [{"subject": EXAMPLE_MEMBER_2}, {"subject": EXAMPLE_PSEUDONYM}]}  # objected
MODEL_EXAMPLE: dict[str, Any] = {"name": "FocusPredict", "version": "2.3", "trained_on": "2026-12-06",
                 "snapshots": [{"dataset": "activity-patterns", "snapshot": "ap-2026-09-30-r1"}]}
SNAPSHOT_OUT: dict[str, Any] = {"dataset": "activity-patterns", "snapshot": "ap-2026-09-30", "created_on": "2026-10-09",
                "source_categories": CATEGORIES, "members": 2, "deleted_at": None, "removals_pending": 1,
                "models": [{"name": "FocusPredict", "version": "2.2"}]}
OUTCOME_EXAMPLE: dict[str, Any] = {"name": "FocusPredict", "version": "2.2", "dataset": "activity-patterns",
                   "snapshot": "ap-2026-09-30", "action": "retrained", "new_version": "2.3", "basis": None}


def _problem(slug: str, detail: str, **extra: Any) -> Any:
    return msgspec.to_builtins(body(slug, detail, **extra))


def _not_found(detail: str) -> Answer:
    return Answer(404, "Not registered.", s.Problem, {"unknown": _problem("not-found", detail)}, MEDIA_TYPE)


NO_DATASET = "No data set of this name is registered."
NO_SNAPSHOT = "No snapshot of this id is registered in this data set."
INVALID = Answer(422, "The body does not match the schema.", s.Problem, {"invalid": _problem(
    "invalid-body", "The body does not match the schema: Expected `str`, got `int`.",
    errors=[s.FieldProblem("/name", "Expected `str`, got `int`")])}, MEDIA_TYPE)
DATASET_PARAM = Param("dataset", "path", "The data set's name.", "activity-patterns", pattern=NAME_PATTERN)
SNAPSHOT_PARAM = Param("snapshot", "path", "The snapshot's id in its data set.", "ap-2026-09-30", pattern=NAME_PATTERN)
MODEL_PARAMS = [Param("name", "path", "The model's name.", "FocusPredict", pattern=NAME_PATTERN),
                Param("version", "path", "The version.", "2.2", pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,59}$")]


@operation(bp, "POST", "/training/datasets", scope=Scope.TRAINING, summary="Register a data set",
           description="A data set used for AI training: its name, what it is for, and which categories of the "
                       "register feed it.",
           body=DatasetIn, body_examples={"dataset": NEW_DATASET},
           answers=[Answer(201, "Registered.", DatasetOut, {"dataset": {**NEW_DATASET, "snapshots": []}}),
                    Answer(409, "Registered already.", s.Problem, {"again": _problem(
                        "conflict", "A data set of this name is registered already.")}, MEDIA_TYPE), INVALID])
def training_dataset_create(token: ApiToken) -> Response:
    def work() -> Response:
        given: DatasetIn = _decode(DatasetIn)
        row = ledger.register_dataset(given.name, given.purpose, given.source_categories,
                                      actor=Actor("api-token", token.id))
        return json_response(_dataset_out(row), 201)

    return _call(token, "dataset", work)


@operation(bp, "GET", "/training/datasets/<dataset>", scope=Scope.TRAINING, summary="A data set and its snapshots",
           description="The data set as registered, with each snapshot's id, date, member count and whether it was "
                       "declared deleted.",
           params=[DATASET_PARAM],
           answers=[Answer(200, "The data set.", DatasetOut, {"dataset": {**DATASET_EXAMPLE, "snapshots": [
               {"snapshot": "ap-2026-09-30", "created_on": "2026-10-09", "members": 2, "deleted_at": None}]}}),
               _not_found(NO_DATASET)])
def training_dataset(token: ApiToken, dataset: str) -> Response:
    found = ledger.dataset(dataset)
    if found is None:
        return problem("not-found", NO_DATASET)
    answer = _dataset_out(found)
    _read(token, "dataset", len(answer.snapshots))
    return json_response(answer)


@operation(bp, "POST", "/training/datasets/<dataset>/snapshots", scope=Scope.TRAINING,
           summary="Register a snapshot and who is in it",
           description="A snapshot of the data set and every employee in it, by pseudonym, with their record count "
                       "if known (up to 100,000 members a call; 16 MiB). Registered whole or not at all: a member "
                       "who is unknown, named twice, or excluded from AI training now refuses it, and `members` "
                       "names each refused one by index. A snapshot made to replace one from which people must be "
                       "removed is registered the same way, then named in the answer.",
           params=[DATASET_PARAM], body=SnapshotIn,
           body_examples={"snapshot": SNAPSHOT_EXAMPLE, "replacement": REPLACEMENT_EXAMPLE,
                          "refused": REFUSED_SNAPSHOT},
           answers=[Answer(201, "Registered.", SnapshotOut, {
               "snapshot": {**SNAPSHOT_OUT, "snapshot": "ap-2026-12-31", "created_on": "2027-01-09", "members": 1,
                            "removals_pending": 0, "models": []},
               "replacement": {**SNAPSHOT_OUT, "snapshot": "ap-2026-09-30-r1", "created_on": "2026-12-05",
                               "members": 1, "removals_pending": 0, "models": []}}),
               Answer(422, "Members refused; nothing was registered.", s.Problem, {"refused": _problem(
                   "members-refused", "1 member(s) were refused; nothing was registered.",
                   members=[s.RefusedMember(1, "excluded")], refused_count=1)}, MEDIA_TYPE),
               _not_found(NO_DATASET), Answer(409, "A snapshot of this id is registered already.", s.Problem, {
                   "again": _problem("conflict", "A snapshot of this id is registered in this data set already.")},
                   MEDIA_TYPE)])
def training_snapshot_create(token: ApiToken, dataset: str) -> Response:
    def work() -> Response:
        given: SnapshotIn = _decode(SnapshotIn)
        members = [(subject_of(m.subject), m.records) for m in given.members]
        row = ledger.register_snapshot(dataset, given.snapshot, given.created_on, given.source_categories, members,
                                       actor=Actor("api-token", token.id))
        return json_response(_snapshot_out(dataset, row), 201)

    return _call(token, "snapshot", work)


@operation(bp, "GET", "/training/datasets/<dataset>/snapshots/<snapshot>", scope=Scope.TRAINING,
           summary="A snapshot", description="The snapshot as registered: its date, categories, member count, "
                                             "the models trained on it and how many removals wait for an answer.",
           params=[DATASET_PARAM, SNAPSHOT_PARAM],
           answers=[Answer(200, "The snapshot.", SnapshotOut, {"snapshot": SNAPSHOT_OUT}), _not_found(NO_SNAPSHOT)])
def training_snapshot(token: ApiToken, dataset: str, snapshot: str) -> Response:
    found = ledger.snapshot(dataset, snapshot)
    if found is None:
        return problem("not-found", NO_SNAPSHOT)
    _read(token, "snapshot", 1)
    return json_response(_snapshot_out(dataset, found))


@operation(bp, "GET", "/training/removals", scope=Scope.TRAINING, summary="Removals waiting for an answer",
           description="Everyone whose data must come out of a snapshot and whose removal is not answered yet, the "
                       "oldest first: the snapshot, the pseudonym, why (`erasure`, `objection` upheld, "
                       "`consent_withdrawn`), since when, and the models trained on that snapshot. At most 1,000; "
                       "answer some and ask again for more.",
           answers=[Answer(200, "The removals pending.", RemovalPage, {"pending": {"items": [{
               "dataset": "activity-patterns", "snapshot": "ap-2026-09-30", "subject": EXAMPLE_MEMBER,
               "cause": "consent_withdrawn", "since": "2026-11-20T10:15:00Z",
               "models": [{"name": "FocusPredict", "version": "2.2"}]}], "more": False}})])
def training_removals(token: ApiToken) -> Response:
    from portal.training.models import ModelSnapshot, TrainingModel

    limit = 1000
    rows = ledger.pending_removals(limit + 1)
    models: dict[int, list[ModelRef]] = {}
    ids = {snap.id for _, snap, _ in rows}
    for link, trained in db.session.execute(db.select(ModelSnapshot, TrainingModel).join(
            TrainingModel, TrainingModel.id == ModelSnapshot.model_id).where(ModelSnapshot.snapshot_id.in_(ids))
            .order_by(TrainingModel.name, TrainingModel.version)).all():
        models.setdefault(link.snapshot_id, []).append(ModelRef(trained.name, trained.version))
    items = [Removal(dataset=owner.name, snapshot=snap.name, subject=pseudonym(removal.subject_id),
                     cause=removal.cause, since=removal.marked_at, models=models.get(snap.id, []))  # type: ignore[arg-type]
             for removal, snap, owner in rows[:limit]]
    _read(token, "removals", len(items))
    return json_response(RemovalPage(items=items, more=len(rows) > limit))


@operation(bp, "POST", "/training/datasets/<dataset>/snapshots/<snapshot>/answer", scope=Scope.TRAINING,
           summary="Answer the removals pending on a snapshot",
           description="What was done with a snapshot from which people must be removed, for every removal "
                       "pending on it: `replaced` by a new snapshot of the same data set (register it first, then "
                       "name it in `replacement`; the portal refuses it while it still holds any of them), "
                       "`deleted`, or `kept` with the legal basis in `basis`. Each person's dashboard, "
                       "certificate and evidence pack then show it.",
           params=[DATASET_PARAM, SNAPSHOT_PARAM], body=AnswerIn,
           body_examples={"replaced": {"answer": "replaced", "replacement": "ap-2026-09-30-r1"}},
           answers=[Answer(200, "Recorded.", AnswerOut, {"replaced": {
               "dataset": "activity-patterns", "snapshot": "ap-2026-09-30", "answer": "replaced", "answered": 1}}),
               Answer(409, "No removal is pending on this snapshot.", s.Problem, {"nothing-pending": _problem(
                   "conflict", "No removal is pending on this snapshot.")}, MEDIA_TYPE),
               Answer(422, "The new snapshot still holds someone who must be removed.", s.Problem, {
                   "still-there": _problem("membership-conflict", "The new snapshot still holds 1 of the 1 people "
                                           "who must be removed; nothing was recorded.")}, MEDIA_TYPE),
               _not_found(NO_SNAPSHOT)])
def training_snapshot_answer(token: ApiToken, dataset: str, snapshot: str) -> Response:
    def work() -> Response:
        given: AnswerIn = _decode(AnswerIn)
        answered = ledger.answer_removals(dataset, snapshot, RemovalAnswer(given.answer),
                                          replacement=given.replacement, basis=given.basis,
                                          actor=Actor("api-token", token.id))
        record("api:training:answer", actor=Actor("api-token", token.id),
               details={"answer": given.answer, "answered": answered})
        return json_response(AnswerOut(dataset, snapshot, given.answer, answered))

    return _call(token, "answer", work)


@operation(bp, "POST", "/training/models", scope=Scope.TRAINING, summary="Register a model version",
           description="A model version, the day it was trained and the snapshots it was trained on. A snapshot "
                       "declared deleted, or with a removal still pending, is refused (409): answer the removal "
                       "first.",
           body=ModelIn, body_examples={"model": MODEL_EXAMPLE},
           answers=[Answer(201, "Registered.", ModelOut, {"model": {**MODEL_EXAMPLE, "outcomes": []}}),
                    Answer(409, "Registered already, or a snapshot may not train a model now.", s.Problem, {
                        "pending": _problem("conflict", "A snapshot named holds someone whose data must be removed "
                                                        "from it; answer the removal first.")}, MEDIA_TYPE),
                    _not_found("A snapshot named is not registered."), INVALID])
def training_model_create(token: ApiToken) -> Response:
    def work() -> Response:
        given: ModelIn = _decode(ModelIn)
        row = ledger.register_model(given.name, given.version, given.trained_on,
                                    [(x.dataset, x.snapshot) for x in given.snapshots],
                                    actor=Actor("api-token", token.id))
        return json_response(_model_out(row.name, row.version), 201)

    return _call(token, "model", work)


@operation(bp, "POST", "/training/models/<name>/versions/<version>/outcomes", scope=Scope.TRAINING,
           summary="Record what was done to a model",
           description="For a snapshot this version was trained on and from which people had to be removed: "
                       "`retrained` as a registered version of the same model that was not trained on it "
                       "(`new_version`), `unlearned` (machine unlearning applied), or `kept` with the legal basis "
                       "in `basis`. Once per model version and snapshot.",
           params=MODEL_PARAMS, body=OutcomeIn,
           body_examples={"retrained": {"dataset": "activity-patterns", "snapshot": "ap-2026-09-30",
                                        "action": "retrained", "new_version": "2.3"}},
           answers=[Answer(201, "Recorded.", OutcomeOut, {"retrained": OUTCOME_EXAMPLE}),
                    Answer(409, "Recorded already, or the model or snapshot does not call for it.", s.Problem, {
                        "again": _problem("conflict", "What was done to this model for this snapshot is recorded "
                                                      "already.")}, MEDIA_TYPE),
                    _not_found("The model version or the snapshot is not registered.")])
def training_model_outcome(token: ApiToken, name: str, version: str) -> Response:
    def work() -> Response:
        given: OutcomeIn = _decode(OutcomeIn)
        ledger.record_model_outcome(name, version, given.dataset, given.snapshot, ModelAction(given.action),
                                    new_version=given.new_version, basis=given.basis,
                                    actor=Actor("api-token", token.id))
        record("api:training:outcome", actor=Actor("api-token", token.id), details={"action": given.action})
        found = _model_out(name, version)
        assert found is not None  # noqa: S101 - just recorded
        return json_response(next(o for o in found.outcomes if (o.dataset, o.snapshot) == (given.dataset, given.snapshot)),
                     201)

    return _call(token, "outcome", work)


@operation(bp, "GET", "/training/models/<name>/versions/<version>", scope=Scope.TRAINING,
           summary="A model version", description="The version, its snapshots and what was done to it for each "
                                                  "snapshot from which people had to be removed.",
           params=MODEL_PARAMS,
           answers=[Answer(200, "The model version.", ModelOut, {"model": {
               "name": "FocusPredict", "version": "2.2", "trained_on": "2026-10-20",
               "snapshots": [{"dataset": "activity-patterns", "snapshot": "ap-2026-09-30"}],
               "outcomes": [OUTCOME_EXAMPLE]}}),
               _not_found("No model of this name and version is registered.")])
def training_model(token: ApiToken, name: str, version: str) -> Response:
    found = _model_out(name, version)
    if found is None:
        return problem("not-found", "No model of this name and version is registered.")
    _read(token, "model", 1)
    return json_response(found)
