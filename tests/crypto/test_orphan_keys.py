"""A subject's data key lives and dies with the employee row it was made for: a row that never
commits (a concurrent insert of the same person won, a later step failed) leaves no key, and the
hourly sweep destroys keys a dead process left for rows that never existed (and nothing else)."""

from __future__ import annotations

import os
import secrets
import threading
import time
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask

from portal.audit.models import AuditEntry
from portal.audit.services import Actor, record
from portal.auth import services as auth
from portal.crypto import KeyStore, keystore
from portal.crypto.services import ORPHAN_AGE, ORPHANS_TAG, sweep_orphan_keys
from portal.db import new_id, utcnow
from portal.extensions import db
from portal.people import services as people
from portal.people.models import Employee
from portal.scim import services as scim_services
from portal.scim.resources import read_user
from tests.conftest import both_databases
from tests.helpers import audit_entries, file_keystore, make_employee
from tests.scim.conftest import Scim, new_user, scim  # noqa: F401  (fixture)

on_postgres = pytest.mark.parametrize("app", [pytest.param("postgres", marks=pytest.mark.postgres)], indirect=True)


def keys_in_store(app: Flask) -> set[str]:
    with app.app_context():
        return set(keystore().subject_ids())


def employee_ids(app: Flask) -> set[str]:
    with app.app_context():
        return set(db.session.scalars(sa.select(Employee.id)))


def create(email: str) -> Employee:
    return people.create_employee(email=email, display_name="Joan", jurisdiction="ES", actor=Actor.system())


# -- rollback --------------------------------------------------------------------------------------

@both_databases
def test_a_rolled_back_creation_takes_its_key_along_a_committed_one_keeps_it(app: Flask) -> None:
    with app.app_context():
        gone = create("gone@example.com").id
        assert keystore().exists(gone), "the key is there while the row may still commit"
        db.session.rollback()
        assert not keystore().exists(gone)

        kept = create("kept@example.com").id
        db.session.commit()
        assert keystore().exists(kept)
        db.session.rollback()  # a later rollback has nothing of it to take back
        assert keystore().exists(kept)

        # A session closed without commit or rollback (a request torn down) ends its transaction too.
        dropped = create("dropped@example.com").id
        db.session.close()
        assert not keystore().exists(dropped)
    assert keys_in_store(app) == employee_ids(app) == {kept}


@on_postgres  # the portal does not use savepoints on SQLite, whose driver does not keep them apart
def test_savepoints_decide_for_the_keys_made_inside_them(app: Flask) -> None:
    with app.app_context():
        outer = create("outer@example.com").id
        savepoint = db.session.begin_nested()
        inner = create("inner@example.com").id
        savepoint.rollback()  # the inner row goes, the outer stays
        assert not keystore().exists(inner) and keystore().exists(outer)
        savepoint = db.session.begin_nested()
        released = create("released@example.com").id
        savepoint.commit()
        db.session.commit()
        assert keystore().exists(released)

        savepoint = db.session.begin_nested()
        later = create("later@example.com").id
        savepoint.commit()  # released, but the enclosing transaction then rolls back
        db.session.rollback()
        assert not keystore().exists(later)
    assert keys_in_store(app) == employee_ids(app) == {outer, released}


def test_a_scim_creation_refused_after_the_row_was_written_leaves_no_key(app: Flask, scim: Scim) -> None:  # noqa: F811
    """The directory gives a new user another employee's externalId: the row and its key were
    made before the uniqueness check refused it; the 409 rolls both back."""
    assert scim.call("POST", "/Users", new_user("first@example.com")).status_code == 201
    before = keys_in_store(app)
    clash = new_user("second@example.com", externalId="dir-first")
    clash["emails"][1]["value"] = "second.home@example.net"
    clash["urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"] = {"employeeNumber": "E7002"}
    answer = scim.call("POST", "/Users", clash)
    assert answer.status_code == 409, answer.get_data(as_text=True)
    assert keys_in_store(app) == before == employee_ids(app)


# -- the race on PostgreSQL: two threads, one barrier ------------------------------------------------

def race(app: Flask, make: Callable[[], Any], contenders: int = 2) -> list[Any]:
    """Each contender, in its own app context (own session and connection), waits at the barrier,
    then creates the same person and holds its transaction open a moment before committing: the
    first insert wins, the others wait on its unique key and then fail."""
    barrier = threading.Barrier(contenders)
    outcomes: list[Any] = []

    def contend() -> None:
        with app.app_context():
            try:
                barrier.wait(timeout=10)
                made = make()
                time.sleep(1.0)  # the others are now waiting on the unique key
                db.session.commit()
                outcomes.append(made)
            except BaseException as exc:  # reported by the test
                db.session.rollback()
                outcomes.append(exc)
            finally:
                db.session.remove()

    threads = [threading.Thread(target=contend) for _ in range(contenders)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
        assert not thread.is_alive()
    return outcomes


@on_postgres
@pytest.mark.timeout(120)
def test_two_scim_creations_of_the_same_user_at_once_leave_one_key(app: Flask) -> None:
    make_employee(app, "seed@example.com")
    fields = read_user(new_user("race@example.com"))
    for _round in range(3):
        outcomes = race(app, lambda: scim_services.create_user(fields, actor=Actor.system()).id)
        won = [o for o in outcomes if isinstance(o, str)]
        lost = [o for o in outcomes if not isinstance(o, str)]
        assert len(won) == 1 and len(lost) == 1, outcomes
        assert isinstance(lost[0], sa.exc.IntegrityError | scim_services.ScimError), repr(lost[0])
        assert keys_in_store(app) == employee_ids(app), "no key for the row that lost"
        with app.app_context():
            db.session.execute(sa.delete(Employee).where(Employee.id == won[0]))
            db.session.commit()
            keystore().destroy(won[0])


@on_postgres
@pytest.mark.timeout(120)
def test_two_first_sign_ins_of_the_same_person_at_once_leave_one_key(app: Flask) -> None:
    settings = app.config["PORTAL_SETTINGS"]
    claims = {"sub": "joan-at-idp", "email": "joan@example.com", "name": "Joan", "country": "ES",
              settings.jurisdiction_claim: "ES"}
    outcomes = race(app, lambda: auth.resolve_sign_in(settings.oidc_issuer, claims, settings).employee.id)
    won = [o for o in outcomes if isinstance(o, str)]
    assert len(won) == 1, outcomes
    assert isinstance(next(o for o in outcomes if not isinstance(o, str)), sa.exc.IntegrityError)
    assert keys_in_store(app) == employee_ids(app) == set(won)


# -- the sweep -----------------------------------------------------------------------------------------

def test_the_sweep_destroys_only_old_keys_of_people_never_committed(app: Flask) -> None:
    alice = make_employee(app, "alice@example.com")
    with app.app_context():
        store = file_keystore()
        orphan, young, erased_elsewhere, foreign = new_id(), new_id(), new_id(), new_id()
        store.create(orphan)
        store.create(young)
        # Another deployment's key (another master key) in this store by mistake: never touched.
        KeyStore(store.directory, secrets.token_bytes(32)).create(foreign)
        # A subject the log knows although no employees row has it: never this sweep's business.
        store.create(erased_elsewhere)
        record("people:employee:create", actor=Actor.system(), subject_id=erased_elsewhere, details={})
        db.session.commit()
        later = utcnow() + ORPHAN_AGE + timedelta(minutes=1)
        old_key_id = store.key_id(orphan)
        for subject_id in (orphan, erased_elsewhere, alice, foreign):  # made long before the sweep
            path = store.directory / f"{subject_id}.key"
            then = (later - ORPHAN_AGE - timedelta(minutes=5)).timestamp()
            os.utime(path, (then, then))
        just_made = (later - timedelta(minutes=1)).timestamp()
        os.utime(store.directory / f"{young}.key", (just_made, just_made))

        result = sweep_orphan_keys(Actor.system(), now=later)
        db.session.commit()
        assert result.destroyed == [old_key_id]
        assert (result.too_recent, result.with_history, result.not_ours, result.looked_at) == (1, 1, 1, 5)
        assert not store.exists(orphan)
        assert all(store.exists(s) for s in (young, erased_elsewhere, alice, foreign))
    (entry,) = audit_entries(app, ORPHANS_TAG)
    assert entry.subject_id is None
    assert entry.details == {"reason": "key of a person never committed to the database", "destroyed": 1,
                             "key_ids": [old_key_id], "too_recent": 1, "kept_with_history": 1, "not_ours": 1,
                             "looked_at": 5}
    with app.app_context():
        assert sweep_orphan_keys(Actor.system(), now=later).destroyed == []  # nothing left to do, nothing audited
        db.session.commit()
        assert db.session.scalar(sa.select(sa.func.count()).select_from(AuditEntry)
                                 .where(AuditEntry.tag == ORPHANS_TAG)) == 1


def test_the_command_sweeps_orphans_and_says_what_it_kept(app: Flask) -> None:
    alice = make_employee(app, "alice@example.com")
    with app.app_context():
        orphan = new_id()
        keystore().create(orphan)
        then = (utcnow() - ORPHAN_AGE - timedelta(minutes=1)).timestamp()
        os.utime(file_keystore().directory / f"{orphan}.key", (then, then))
    done = app.test_cli_runner().invoke(args=["keys", "sweep-orphans"])
    assert done.exit_code == 0, done.output
    assert "2 key(s) looked at; 1 orphan(s) destroyed, 0 too recent" in done.output
    assert keys_in_store(app) == {alice}
    assert [e.details["destroyed"] for e in audit_entries(app, ORPHANS_TAG)] == [1]
