"""The requests state machine driven by Hypothesis: random sequences of every step, taken by every
kind of person, over a few requests of every type, with the fulfilment jobs run in between.

Each step is taken as a view would take it (call the service, commit; on a refusal, roll back).
Before the step an independent oracle says, from the rows as they are, whether the step must
succeed or be refused, and how; a refusal must change nothing (the request's row, its timeline
and the audit log, compared before and after the rollback). After every step the invariants of
docs/architecture.md ("Requests", "Erasure", "Keys and backups") are checked over all the
requests: states and transitions as designed, one audit entry and one timeline entry per
transition, deadlines moved only by one recorded extension, four eyes on every erasure, erased
subjects unreadable, held data kept.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any
from unittest import mock

import pytest
import sqlalchemy as sa
from flask import Flask
from hypothesis import HealthCheck, Phase, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from portal.audit.models import AuditEntry
from portal.consent.services import is_suppressed
from portal.crypto import KeyDestroyed, keystore
from portal.exports import services as exports
from portal.extensions import db
from portal.jurisdictions import all_ground_codes
from portal.monitoring.artifacts import artifact_dir
from portal.monitoring.models import ActivityEvent, Screenshot
from portal.people.models import Employee, Role
from portal.rights import deadlines
from portal.rights import services as rs
from portal.rights.models import (
    CLOSED_STATES,
    WITHDRAWABLE_STATES,
    DataRequest,
    ErasureApproval,
    ErasureCount,
    EventKind,
    LegalHold,
    RequestEvent,
    RequestState,
    RequestType,
)
from portal.training.models import SnapshotMember
from tests.helpers import make_employee
from tests.rights.support import (
    count,
    fill,
    make_queue,
    make_staff,
    manual_jobs,
    pending_jobs,
    request_state_of_world,
    run_pending,
)

S = RequestState
ROLES = ("requester", "other_employee", "queue_dpo", "queue_dpo2", "other_queue_dpo", "admin")
PEOPLE = ("alice", "bob", "dpo_es", "dpo_es2", "dpo_us", "dpo_us2", "admin")
REJECTABLE = {S.RECEIVED, S.OPEN, S.IN_REVIEW, S.AWAITING_REQUESTER, S.FAILED}
TRANSITION_ACTIONS = set(rs.TRANSITIONS.values())
TEXTS = st.sampled_from(["", "   ", "Please send the screenshots of 3 March.", "Ok"])
CATEGORY_CHOICE: st.SearchStrategy[list[str]] = st.one_of(st.just([]), st.lists(st.sampled_from(rs.ERASABLE), min_size=1, max_size=3, unique=True))
BASES = st.sampled_from([*all_ground_codes(), "", "because", "GDPR-12-5"])
STEPS = st.lists(st.sampled_from(["queue_dpo", "queue_dpo2", "admin"]), min_size=2, max_size=8)
MAX_REQUESTS = 5
MAX_HOLDS = 3
_subjects = itertools.count()


@dataclass(frozen=True)
class Refused:
    """The oracle's verdict: the step must be refused with this class of error (None: it must succeed)."""

    kind: type[rs.RequestError]


def machine(app: Flask, staff: dict[str, str], queues: dict[str, str]) -> type[RuleBasedStateMachine]:
    class Requests(RuleBasedStateMachine):
        requests = Bundle("requests")
        holds = Bundle("holds")

        def __init__(self) -> None:
            super().__init__()
            n = next(_subjects)
            self.people = dict(staff)
            self.people["alice"] = make_employee(app, f"alice{n}@example.com", jurisdiction="ES")
            self.people["bob"] = make_employee(app, f"bob{n}@example.com", jurisdiction="US-CA")
            fill(self.people["alice"], events=12, shots=2)
            fill(self.people["bob"], events=6, shots=1)
            self.ids: list[str] = []  # this example's requests
            self.due: dict[str, date | None] = {}  # due_on when filed: it never changes
            self.erased: set[str] = set()  # subjects whose key an erasure destroyed
            self.holds_placed = 0

        # -- people --------------------------------------------------------------------------------------

        def person(self, name: str) -> Employee:
            found = db.session.get(Employee, self.people[name])
            assert found is not None
            return found

        def subject_name(self, request: DataRequest) -> str:
            return "alice" if request.subject_id == self.people["alice"] else "bob"

        def role(self, request: DataRequest, role: str) -> str:
            """The person who plays ``role`` for ``request``."""
            mine = self.subject_name(request)
            spain = mine == "alice"
            return {"requester": mine, "other_employee": "bob" if spain else "alice",
                    "queue_dpo": "dpo_es" if spain else "dpo_us", "queue_dpo2": "dpo_es2" if spain else "dpo_us2",
                    "other_queue_dpo": "dpo_us" if spain else "dpo_es", "admin": "admin"}[role]

        def works(self, request: DataRequest, name: str) -> bool:
            """The oracle's own who-may rule: the DPOs of the request's queue work it."""
            spain = request.queue_id == queues["spain"]
            return name in (("dpo_es", "dpo_es2") if spain else ("dpo_us", "dpo_us2"))

        @staticmethod
        def load(request_id: str) -> DataRequest:
            found = db.session.get(DataRequest, request_id, populate_existing=True)
            assert found is not None
            return found

        # -- taking a step as a view would -----------------------------------------------------------------

        @staticmethod
        def watch(request_id: str | None) -> Any:
            """What a refused step must leave as it was: the request (row, timeline, audit log), or
            for a hold, the holds and the audit log."""
            if request_id:
                return request_state_of_world(request_id)
            return (count(AuditEntry), count(LegalHold), count(LegalHold, LegalHold.lifted_at.is_(None)))

        def take(self, request_id: str | None, verdict: Refused | None, fn: Any, *args: Any, **kwargs: Any) -> Any:
            """Take the step as a view would: call, then commit; or, refused, roll back."""
            before = self.watch(request_id)
            try:
                result = fn(*args, **kwargs)
            except rs.RequestError as exc:
                seen = self.watch(request_id)  # the queries flush whatever the service left pending
                db.session.rollback()
                after = self.watch(request_id)
                assert before == seen == after, f"{fn.__name__} refused ({exc}) but changed something"
                assert verdict is not None, f"{fn.__name__} was refused: {exc}"
                assert isinstance(exc, verdict.kind), f"{fn.__name__}: expected {verdict.kind.__name__}, got {exc!r}"
                assert str(exc)[:1].isupper() and str(exc).endswith("."), str(exc)
                return None
            except BaseException:
                db.session.rollback()
                raise
            db.session.commit()
            assert verdict is None, f"{fn.__name__} should have been refused with {verdict.kind.__name__}"
            return result

        # -- filing -------------------------------------------------------------------------------------------

        @precondition(lambda self: len(self.ids) < MAX_REQUESTS)
        @rule(target=requests, who=st.sampled_from(["alice", "bob"]), kind=st.sampled_from(list(RequestType)),
              categories=CATEGORY_CHOICE)
        def file(self, who: str, kind: RequestType, categories: list[str]) -> str:
            fields: dict[str, Any] = {"description": "From the state machine"}
            if kind in (RequestType.ERASURE, RequestType.RESTRICTION):
                fields["categories"] = categories
            if kind == RequestType.RECTIFICATION:
                fields.update(wrong="It says I was on LinkedIn", correct="That was a colleague")
            if kind == RequestType.OBJECTION:
                fields["grounds"] = "No AI training on my data"
            filed = rs.file_request(self.person(who), kind, **fields)
            db.session.commit()
            request = filed.request
            assert (request.state, request.queue_id) == (S.RECEIVED, queues["spain" if who == "alice" else "americas"])
            self.ids.append(request.id)
            self.due[request.id] = request.due_on
            return request.id

        # -- the DPO's steps ------------------------------------------------------------------------------------

        @rule(request_id=requests, role=st.sampled_from(ROLES))
        def claim(self, request_id: str, role: str) -> None:
            request = self.load(request_id)
            name = self.role(request, role)
            was = request.state
            verdict = (Refused(rs.NotAllowed) if not self.works(request, name)
                       else Refused(rs.IllegalTransition) if request.state in CLOSED_STATES
                       else Refused(rs.RequestError) if request.assignee_id is not None else None)
            if self.take(request_id, verdict, rs.claim, request, self.person(name)) is not None:
                request = self.load(request_id)
                assert request.assignee_id == self.people[name]
                assert request.state == (S.OPEN if was == S.RECEIVED else was)

        @rule(request_id=requests, role=st.sampled_from(ROLES),
              to=st.sampled_from(["queue_dpo", "queue_dpo2", "other_queue_dpo", "requester"]))
        def assign(self, request_id: str, role: str, to: str) -> None:
            request = self.load(request_id)
            name, assignee = self.role(request, role), self.role(request, to)
            was = request.state
            verdict = (Refused(rs.NotAllowed) if not (self.works(request, name) or name == "admin")
                       else Refused(rs.IllegalTransition) if request.state in CLOSED_STATES
                       else Refused(rs.RequestError) if not self.works(request, assignee)
                       else Refused(rs.RequestError) if request.assignee_id == self.people[assignee] else None)
            self.take(request_id, verdict, rs.assign, request, self.person(name), self.person(assignee))
            if verdict is None:
                request = self.load(request_id)
                assert request.assignee_id == self.people[assignee]
                assert request.state == (S.OPEN if was == S.RECEIVED else was)

        @rule(request_id=requests, role=st.sampled_from(ROLES))
        def start_review(self, request_id: str, role: str) -> None:
            request = self.load(request_id)
            name = self.role(request, role)
            verdict = (Refused(rs.NotAllowed) if not self.works(request, name)
                       else Refused(rs.IllegalTransition) if request.state != S.OPEN else None)
            self.take(request_id, verdict, rs.start_review, request, self.person(name))
            if verdict is None:
                assert self.load(request_id).state == S.IN_REVIEW

        @rule(request_id=requests, role=st.sampled_from(ROLES), message=TEXTS)
        def ask_requester(self, request_id: str, role: str, message: str) -> None:
            request = self.load(request_id)
            name = self.role(request, role)
            verdict = (Refused(rs.NotAllowed) if not self.works(request, name)
                       else Refused(rs.IllegalTransition) if request.state != S.IN_REVIEW
                       else Refused(rs.RequestError) if not message.strip() else None)
            self.take(request_id, verdict, rs.ask_requester, request, self.person(name), message)
            if verdict is None:
                assert self.load(request_id).state == S.AWAITING_REQUESTER

        @rule(request_id=requests, role=st.sampled_from(ROLES), message=TEXTS)
        def answer(self, request_id: str, role: str, message: str) -> None:
            request = self.load(request_id)
            name = self.role(request, role)
            verdict = (Refused(rs.NotAllowed) if role != "requester"
                       else Refused(rs.IllegalTransition) if request.state != S.AWAITING_REQUESTER
                       else Refused(rs.RequestError) if not message.strip() else None)
            self.take(request_id, verdict, rs.answer, request, self.person(name), message)
            if verdict is None:
                assert self.load(request_id).state == S.IN_REVIEW

        @rule(request_id=requests, role=st.sampled_from(ROLES), message=TEXTS)
        def message_requester(self, request_id: str, role: str, message: str) -> None:
            request = self.load(request_id)
            name = self.role(request, role)
            was = request.state
            verdict = (Refused(rs.NotAllowed) if not self.works(request, name)
                       else Refused(rs.IllegalTransition) if request.state in CLOSED_STATES
                       else Refused(rs.RequestError) if not message.strip() else None)
            events = count(RequestEvent, RequestEvent.kind == EventKind.MESSAGE)
            self.take(request_id, verdict, rs.message_requester, request, self.person(name), message)
            if verdict is None:
                assert self.load(request_id).state == was
                assert count(RequestEvent, RequestEvent.kind == EventKind.MESSAGE) == events + 1

        @rule(request_id=requests, role=st.sampled_from(ROLES), note=TEXTS)
        def add_note(self, request_id: str, role: str, note: str) -> None:
            request = self.load(request_id)
            name = self.role(request, role)
            verdict = (Refused(rs.NotAllowed) if not self.works(request, name)
                       else Refused(rs.RequestError) if not note.strip() else None)
            self.take(request_id, verdict, rs.add_note, request, self.person(name), note)

        @rule(request_id=requests, role=st.sampled_from(ROLES), days=st.integers(-2, 100), reason=TEXTS)
        def extend(self, request_id: str, role: str, days: int, reason: str) -> None:
            request = self.load(request_id)
            name = self.role(request, role)
            received = request.received_at.date()
            today = received + timedelta(days=days)
            allowed, _ = deadlines.can_extend(request.jurisdiction, request.type, received, today,
                                              request.extended_due_on is not None)
            verdict = (Refused(rs.NotAllowed) if not self.works(request, name)
                       else Refused(rs.IllegalTransition) if not request.is_open
                       else Refused(rs.RequestError) if not reason.strip() or not allowed else None)
            new_due = self.take(request_id, verdict, rs.extend, request, self.person(name), reason, today=today)
            if verdict is None:
                request = self.load(request_id)
                assert new_due == request.extended_due_on == deadlines.extended_due(
                    request.jurisdiction, request.type, received)

        @rule(request_id=requests, role=st.sampled_from(ROLES))
        def approve(self, request_id: str, role: str) -> None:
            request = self.load(request_id)
            name = self.role(request, role)
            approvers = set(db.session.scalars(sa.select(ErasureApproval.approver_id)
                                               .where(ErasureApproval.request_id == request_id)))
            erasure = request.type == RequestType.ERASURE
            needs_key = request.type == RequestType.RECTIFICATION  # a copy is made of what remains
            verdict = (Refused(rs.NotAllowed) if name == self.subject_name(request)  # never one's own
                       else Refused(rs.IllegalTransition) if request.state != S.IN_REVIEW
                       else Refused(rs.NotAllowed) if self.people[name] in approvers
                       else Refused(rs.NotAllowed) if not (self.works(request, name)
                                                           or (erasure and approvers and name == "admin"))
                       else Refused(rs.RequestError) if needs_key and not keystore().exists(request.subject_id)
                       else None)
            ground = rs.erasure_grounds(request)[0].code if erasure else None
            done = self.take(request_id, verdict, rs.approve, request, self.person(name), "", ground)
            if verdict is None:
                request = self.load(request_id)
                if erasure and not approvers:
                    assert done is False and request.state == S.IN_REVIEW
                else:
                    assert done is True
                    assert request.state == (S.FULFILLING if request.type in (
                        RequestType.ACCESS, RequestType.PORTABILITY, RequestType.ERASURE) else S.COMPLETED)
                    assert request.decided_by_id == self.people[name]

        @rule(request_id=requests, role=st.sampled_from(ROLES), basis=BASES, reasons=TEXTS)
        def reject(self, request_id: str, role: str, basis: str, reasons: str) -> None:
            request = self.load(request_id)
            name = self.role(request, role)
            valid = basis in {g.code for g in rs.refusal_grounds(request)}
            verdict = (Refused(rs.NotAllowed) if not self.works(request, name)
                       else Refused(rs.IllegalTransition) if request.state not in REJECTABLE
                       else Refused(rs.RequestError) if not valid or not reasons.strip() else None)
            self.take(request_id, verdict, rs.reject, request, self.person(name), basis, reasons)
            if verdict is None:
                request = self.load(request_id)
                assert (request.state, request.legal_basis) == (S.REJECTED, basis)
                assert request.decision_text == reasons.strip()

        @rule(request_id=requests, role=st.sampled_from(ROLES))
        def withdraw(self, request_id: str, role: str) -> None:
            request = self.load(request_id)
            name = self.role(request, role)
            verdict = (Refused(rs.NotAllowed) if role != "requester"
                       else Refused(rs.IllegalTransition) if request.state not in WITHDRAWABLE_STATES else None)
            self.take(request_id, verdict, rs.withdraw, request, self.person(name))
            if verdict is None:
                assert self.load(request_id).state == S.WITHDRAWN

        @rule(request_id=requests, role=st.sampled_from(ROLES))
        def retry(self, request_id: str, role: str) -> None:
            request = self.load(request_id)
            name = self.role(request, role)
            verdict = (Refused(rs.NotAllowed) if not self.works(request, name)
                       else Refused(rs.IllegalTransition) if request.state != S.FAILED else None)
            self.take(request_id, verdict, rs.retry, request, self.person(name))
            if verdict is None:
                assert self.load(request_id).state == S.FULFILLING

        @rule(request_id=requests, steps=STEPS)
        def advance(self, request_id: str, steps: list[str]) -> None:
            """Take the request's natural next steps (random steps alone seldom get far): claim (or an
            admin assigns), review, approve (the same person twice, or an admin, now and then),
            answer what was asked, retry what failed. Each goes through its rule, oracle and all."""
            for role in steps:
                request = self.load(request_id)
                state = request.state
                dpo_role = role if role != "admin" else "queue_dpo"
                if state == S.RECEIVED:
                    if role == "admin":
                        self.assign(request_id, "admin", "queue_dpo2")
                    else:
                        self.claim(request_id, role)
                elif state == S.OPEN:
                    self.start_review(request_id, dpo_role)
                elif state == S.IN_REVIEW:
                    self.approve(request_id, role)
                elif state == S.AWAITING_REQUESTER:
                    self.answer(request_id, "requester", "The grey laptop.")
                elif state == S.FAILED:
                    self.retry(request_id, dpo_role)
                else:
                    return

        # Random steps by random people are mostly refused: these make going forward likelier.
        @rule(request_id=requests, steps=STEPS)
        def advance_more(self, request_id: str, steps: list[str]) -> None:
            self.advance(request_id, steps)

        @rule(request_id=requests, steps=STEPS)
        def advance_further(self, request_id: str, steps: list[str]) -> None:
            self.advance(request_id, steps)

        # -- legal holds ------------------------------------------------------------------------------------

        @precondition(lambda self: self.holds_placed < MAX_HOLDS)
        @rule(target=holds, who=st.sampled_from(PEOPLE), subject=st.sampled_from(["alice", "bob"]),
              categories=CATEGORY_CHOICE)
        def place_hold(self, who: str, subject: str, categories: list[str]) -> str:
            staff_member = who.startswith("dpo") or who == "admin"
            hold = self.take(None, None if staff_member else Refused(rs.NotAllowed), rs.place_hold,
                             self.person(subject), self.person(who), categories=categories,
                             matter_reference="LIT-1", reason="Pending litigation")
            self.holds_placed += 1
            return hold.id if hold is not None else ""

        @rule(hold_id=holds, who=st.sampled_from(PEOPLE))
        def lift_hold(self, hold_id: str, who: str) -> None:
            hold = db.session.get(LegalHold, hold_id) if hold_id else None
            if hold is None:
                return
            staff_member = who.startswith("dpo") or who == "admin"
            verdict = (Refused(rs.NotAllowed) if not staff_member
                       else Refused(rs.RequestError) if hold.lifted_at is not None else None)
            self.take(None, verdict, rs.lift_hold, hold, self.person(who))

        # -- the jobs ---------------------------------------------------------------------------------------

        @rule(disk_full=st.booleans())
        def run_jobs(self, disk_full: bool) -> None:
            """Run the queued erasures and exports (with ``disk_full`` every export fails until the
            job gives up), checking that held data survives each erasure."""
            queued = set(pending_jobs())
            erasures = [r for r in map(self.load, self.ids)
                        if r.type == RequestType.ERASURE and r.state == S.FULFILLING and r.job_id in queued]
            expected: dict[str, dict[str, bool]] = {}  # request -> category in scope -> held
            rows_before = {who: self.rows(self.people[who]) for who in ("alice", "bob")}
            for request in erasures:
                holds = rs.active_holds(request.subject_id)
                categories = list((request.scope or {}).get("categories") or rs.ERASABLE)
                expected[request.id] = {c: any(h.covers(c) for h in holds) for c in categories}
            db.session.rollback()

            def no_space(*args: Any, **kwargs: Any) -> Any:
                raise OSError(28, "No space left on device")

            if disk_full:
                with mock.patch.object(exports, "PackageWriter", no_space):
                    run_pending()
            else:
                run_pending()

            for request_id, scope in expected.items():
                request = self.load(request_id)
                assert request.state == S.COMPLETED, (request.state, request_id)
                name = self.subject_name(request)
                now = self.rows(request.subject_id)
                counts = {c.category: c for c in db.session.scalars(
                    sa.select(ErasureCount).where(ErasureCount.request_id == request_id))}
                assert set(counts) == set(scope)
                for category, is_held in scope.items():
                    if is_held:  # blocked, not erased: every row is still there, and reported
                        assert now[category] == rows_before[name][category] == counts[category].blocked
                        assert counts[category].deleted == 0
                    elif category == "ai_training_use":  # kept as evidence, every record marked
                        assert now[category] == rows_before[name][category] == counts[category].removal_required
                        assert counts[category].deleted == counts[category].blocked == 0
                    else:
                        assert now[category] == 0 and counts[category].blocked == 0
                assert is_suppressed(request.subject_id)
                result = request.result or {}
                if result.get("key_destroyed"):
                    self.erased.add(request.subject_id)

        @rule()
        def run_jobs_again(self) -> None:
            self.run_jobs(disk_full=False)

        @staticmethod
        def rows(subject_id: str) -> dict[str, int]:
            events = dict(db.session.execute(sa.select(ActivityEvent.category, sa.func.count())
                                             .where(ActivityEvent.subject_id == subject_id)
                                             .group_by(ActivityEvent.category)).tuples().all())
            return {"input_events": events.get("input_events", 0), "app_activity": events.get("app_activity", 0),
                    "screenshots": count(Screenshot, Screenshot.subject_id == subject_id),
                    "ai_training_use": count(SnapshotMember, SnapshotMember.subject_id == subject_id)}

        # -- invariants -------------------------------------------------------------------------------------

        @invariant()
        def states_and_transitions_are_as_designed(self) -> None:
            if not self.ids:
                return
            requests = {r.id: r for r in db.session.scalars(sa.select(DataRequest).where(
                DataRequest.id.in_(self.ids)).execution_options(populate_existing=True))}
            entries: dict[str, list[AuditEntry]] = {i: [] for i in self.ids}
            for entry in db.session.scalars(sa.select(AuditEntry).where(
                    AuditEntry.tag.like("requests:request:%"),
                    AuditEntry.subject_id.in_([self.people["alice"], self.people["bob"]])).order_by(AuditEntry.seq)):
                entries[entry.targets["request"]].append(entry)
            events: dict[str, list[RequestEvent]] = {i: [] for i in self.ids}
            for event in db.session.scalars(sa.select(RequestEvent).where(RequestEvent.request_id.in_(self.ids))
                                            .order_by(RequestEvent.id)):
                events[event.request_id].append(event)
            for request_id, request in requests.items():
                state = request.state
                # Each transition: in TRANSITIONS, one timeline entry, one audit entry, chained.
                moves = [(S(e.from_state or ""), S(e.to_state or "")) for e in events[request_id]
                         if e.kind == EventKind.TRANSITION]
                assert all(move in rs.TRANSITIONS for move in moves), moves
                chain = [S.RECEIVED] + [to for _, to in moves]
                assert [frm for frm, _ in moves] == chain[:-1] and chain[-1] == state, (moves, state)
                audited = [(e.tag.rsplit(":", 1)[1], e.details.get("from")) for e in entries[request_id]
                           if e.tag.rsplit(":", 1)[1] in TRANSITION_ACTIONS]
                assert audited == [(rs.TRANSITIONS[m], m[0].value) for m in moves], (audited, moves)
                assert entries[request_id][0].tag == "requests:request:file"
                # Deadlines: due_on never changes; the extension is set once, by one recorded extension.
                assert request.due_on == self.due[request_id]
                extensions = [e for e in entries[request_id] if e.tag == "requests:request:extend"]
                if request.extended_due_on is None:
                    assert extensions == [] and request.extension_reason_sealed is None
                else:
                    (only,) = extensions
                    assert only.details["extended_due"] == request.extended_due_on.isoformat()
                    assert only.details["due"] == request.due_on.isoformat()  # type: ignore[union-attr]
                    assert request.extended_by_id == only.actor_id
                # Four eyes on every erasure.
                approvers = list(db.session.scalars(sa.select(ErasureApproval.approver_id)
                                                    .where(ErasureApproval.request_id == request_id)))
                assert len(approvers) == len(set(approvers)) <= 2
                went_ahead = any(to == S.APPROVED for _, to in moves)
                if request.type == RequestType.ERASURE:
                    assert went_ahead == (len(approvers) == 2), (moves, approvers)
                    if went_ahead:
                        assert request.decided_by_id in approvers
                else:
                    assert approvers == []
                # The rows keep their own invariants too.
                if state == S.COMPLETED:
                    assert request.completed_at is not None and request.outcome
                if state == S.REJECTED:
                    assert request.legal_basis and request.decision_text
                assert not any(e.kind in (EventKind.NOTE, EventKind.APPROVAL) and e.visible_to_requester
                               for e in events[request_id])

        @invariant()
        def erased_subjects_have_nothing_readable(self) -> None:
            for who in ("alice", "bob"):
                subject_id = self.people[who]
                if keystore().exists(subject_id):
                    assert subject_id not in self.erased
                    continue
                assert subject_id in self.erased
                try:
                    keystore().cipher(subject_id)
                except KeyDestroyed:
                    pass
                else:
                    raise AssertionError("the key of an erased subject still opens")
                assert count(ActivityEvent, ActivityEvent.subject_id == subject_id) == 0
                assert count(Screenshot, Screenshot.subject_id == subject_id) == 0
                shots = artifact_dir() / "screenshots" / subject_id
                assert not shots.exists() or not any(shots.iterdir())

        def teardown(self) -> None:
            db.session.rollback()

    return Requests


@pytest.mark.timeout(240)
def test_random_steps_by_random_people_keep_every_invariant(app: Flask) -> None:
    manual_jobs(app)
    with app.app_context():
        queues = {"spain": make_queue("Spain", rules=[("ES", "*")]),
                  "americas": make_queue("Americas", rules=[("US-CA", "*")])}
        db.session.commit()
    staff = {"dpo_es": make_staff(app, "dpo-es@example.com", Role.DPO, queues=[queues["spain"]]),
             "dpo_es2": make_staff(app, "dpo-es2@example.com", Role.DPO, queues=[queues["spain"]]),
             "dpo_us": make_staff(app, "dpo-us@example.com", Role.DPO, queues=[queues["americas"]]),
             "dpo_us2": make_staff(app, "dpo-us2@example.com", Role.DPO, queues=[queues["americas"]]),
             "admin": make_staff(app, "admin@example.com", Role.ADMIN)}
    with app.app_context():
        # No shrinking: every example sets up real employees and data, so shrinking a failure would
        # take many minutes; the report names the check that failed and lists the example's steps.
        run_state_machine_as_test(machine(app, staff, queues), settings=settings(
            max_examples=30, stateful_step_count=50, deadline=None, database=None,
            phases=[Phase.explicit, Phase.reuse, Phase.generate],
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much, HealthCheck.data_too_large]))
