"""Two DPOs claim the same case at the same moment, on PostgreSQL, from two threads with their own
app contexts and database sessions: one conditional UPDATE decides, so exactly one wins, the other
is told someone was first, one claim is audited and the case is the winner's."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask

from portal.audit.models import AuditEntry
from portal.extensions import db
from portal.people.models import Employee
from portal.rights import services as rs
from portal.rights.models import DataRequest, EventKind, RequestEvent, RequestState, RequestType
from tests.helpers import existing
from tests.rights.support import World, make_world, manual_jobs

ROUNDS = 20

on_postgres = pytest.mark.parametrize("app", [pytest.param("postgres", marks=pytest.mark.postgres)], indirect=True)


def act_in_thread(app: Flask, request_id: str, staff_id: str, barrier: threading.Barrier,
                  outcomes: dict[str, Any], check: Callable[[Employee, DataRequest], Any],
                  act: Callable[[DataRequest, Employee], Any]) -> None:
    """What a view does, in its own app context (so its own session and connection): the view's
    permission check (which begins the session's transaction), then, once every thread is there,
    the service; the outcome, or the error, goes into ``outcomes``."""
    with app.app_context():
        try:
            request = db.session.get(DataRequest, request_id)
            staff = db.session.get(Employee, staff_id)
            assert request is not None and staff is not None
            check(staff, request)
            barrier.wait(timeout=10)
            outcomes[staff_id] = act(request, staff)
            db.session.commit()
        except BaseException as exc:  # reported by the test, not lost in the thread
            db.session.rollback()
            outcomes[staff_id] = exc
        finally:
            db.session.remove()


def claim_in_thread(app: Flask, request_id: str, staff_id: str, barrier: threading.Barrier,
                    outcomes: dict[str, Any]) -> None:
    act_in_thread(app, request_id, staff_id, barrier, outcomes, rs.may_work,
                  lambda request, staff: rs.claim(request, staff) and "won")


@on_postgres
@pytest.mark.timeout(120)
def test_two_dpos_claiming_at_once_one_wins_the_other_is_told(app: Flask) -> None:
    manual_jobs(app)
    w: World = make_world(app)
    contenders = (w.dpo, w.dpo2)
    winners: list[str] = []
    for round_no in range(ROUNDS):
        with app.app_context():
            alice = db.session.get(Employee, w.alice)
            assert alice is not None
            request_id = rs.file_request(alice, RequestType.ACCESS, description=f"Round {round_no}").request.id
            db.session.commit()
        barrier = threading.Barrier(2)
        outcomes: dict[str, Any] = {}
        threads = [threading.Thread(target=claim_in_thread, args=(app, request_id, who, barrier, outcomes))
                   for who in (contenders if round_no % 2 else reversed(contenders))]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(30)
            assert not thread.is_alive()

        won = [who for who, outcome in outcomes.items() if outcome == "won"]
        lost = [outcome for outcome in outcomes.values() if outcome != "won"]
        assert len(won) == 1 and len(lost) == 1, outcomes
        assert isinstance(lost[0], rs.AlreadyClaimed), repr(lost[0])
        assert str(lost[0]) == "Someone else has already taken this case."
        winners.append(won[0])
        with app.app_context():
            request = db.session.get(DataRequest, request_id)
            assert request is not None
            assert (request.assignee_id, request.state) == (won[0], RequestState.OPEN)
            claims = [e for e in db.session.scalars(sa.select(AuditEntry).where(
                AuditEntry.tag == "requests:request:claim")) if e.targets["request"] == request_id]
            assert [(e.actor_id, e.details["assignee"]) for e in claims] == [(won[0], won[0])]
            opened = [e for e in db.session.scalars(sa.select(AuditEntry).where(
                AuditEntry.tag == "requests:request:open")) if e.targets["request"] == request_id]
            assert len(opened) == 1
            timeline = [(e.kind, e.actor_id) for e in db.session.scalars(
                sa.select(RequestEvent).where(RequestEvent.request_id == request_id).order_by(RequestEvent.id))
                if e.kind != EventKind.DUPLICATE]  # every round repeats Alice's open access request
            assert timeline == [(EventKind.FILED, w.alice), (EventKind.CLAIM, won[0]),
                                (EventKind.TRANSITION, won[0])]
    print(f"winners over {ROUNDS} rounds: dpo {winners.count(w.dpo)}, dpo2 {winners.count(w.dpo2)}")


def approve_in_thread(app: Flask, request_id: str, staff_id: str, barrier: threading.Barrier,
                      outcomes: dict[str, Any]) -> None:
    act_in_thread(app, request_id, staff_id, barrier, outcomes, rs.may_approve,
                  lambda r, s: rs.approve(r, s, erasure_ground=rs.erasure_grounds(r)[0].code))


@on_postgres
@pytest.mark.timeout(120)
def test_two_approvals_of_an_erasure_given_at_once_approve_it(app: Flask) -> None:
    """Both approvers act at the same moment: one approval is the first, the other the second,
    and the erasure goes on to be carried out (before the row lock, each counted only its own,
    the request stuck in review and both were then refused)."""
    from portal.rights.models import ErasureApproval

    manual_jobs(app)
    w: World = make_world(app)
    for round_no in range(8):
        with app.app_context():
            alice = db.session.get(Employee, w.alice)
            assert alice is not None
            request_id = rs.file_request(alice, RequestType.ERASURE, description=f"Round {round_no}").request.id
            dpo = existing(Employee, w.dpo)
            rs.claim(existing(DataRequest, request_id), dpo)
            rs.start_review(existing(DataRequest, request_id), dpo)
            db.session.commit()
        barrier = threading.Barrier(2)
        outcomes: dict[str, Any] = {}
        threads = [threading.Thread(target=approve_in_thread, args=(app, request_id, who, barrier, outcomes))
                   for who in (w.dpo, w.dpo2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(30)
        assert sorted(outcomes.values(), key=str) == [False, True], outcomes
        with app.app_context():
            request = db.session.get(DataRequest, request_id)
            assert request is not None and request.state == RequestState.FULFILLING
            approvals = db.session.scalars(sa.select(ErasureApproval.approver_id)
                                           .where(ErasureApproval.request_id == request_id)).all()
            assert sorted(approvals) == sorted([w.dpo, w.dpo2])
            db.session.execute(sa.update(DataRequest).where(DataRequest.id == request_id)
                               .values(state=RequestState.WITHDRAWN))  # out of the way of the next round
            db.session.commit()
