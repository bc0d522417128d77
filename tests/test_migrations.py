"""The migrations build the models' schema from an empty database, on SQLite and on PostgreSQL,
seed the data-category register, and go down and up again."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlsplit

import flask_migrate
import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from flask import Flask

from portal import create_app
from portal.api import exclusions as feed
from portal.config import PROJECT_ROOT
from portal.extensions import db
from portal.people.models import Employee
from portal.people.pseudonyms import pseudonym
from tests.conftest import app_config

CATEGORIES = {"input_events", "app_activity", "screenshots", "ai_training_use"}


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def empty_database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A new, empty database of its own: a fresh SQLite file, or a fresh PostgreSQL database
    on the tests' server, dropped afterwards."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'empty.db'}"
        return
    server_url = request.getfixturevalue("postgres_server")
    name = f"portal_migrations_{secrets.token_hex(6)}"
    admin = sa.create_engine(server_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    try:
        yield urlsplit(server_url)._replace(path=f"/{name}").geturl()
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture
def migrating_app(empty_database: str, tmp_path: Path, idp_url: str) -> Iterator[Flask]:
    app = create_app(app_config(tmp_path, idp_url, empty_database))
    with app.app_context():
        yield app
        db.session.remove()
        db.engine.dispose()


def heads() -> set[str]:
    return set(ScriptDirectory(str(PROJECT_ROOT / "migrations")).get_heads())


def current_revisions() -> set[str]:
    with db.engine.connect() as conn:
        return set(MigrationContext.configure(conn).get_current_heads())


def user_tables() -> set[str]:
    return set(sa.inspect(db.engine).get_table_names()) - {"alembic_version"}


def differences(app: Flask) -> list[object]:
    """What ``flask db migrate`` would write, compared with the options the project migrates with."""
    args = app.extensions["migrate"].configure_args
    opts = {"compare_type": args.get("compare_type", True),
            "compare_server_default": args.get("compare_server_default", False),
            "include_name": args["include_name"]}
    with db.engine.connect() as conn:
        diff: list[object] = compare_metadata(MigrationContext.configure(conn, opts=opts), db.metadata)
        return diff


def register_keys() -> list[str]:
    with db.engine.connect() as conn:
        return list(conn.scalars(sa.text("SELECT key FROM data_categories ORDER BY sort_order")))


def test_migrations_from_empty_to_head_match_the_models_and_go_down_and_up(migrating_app: Flask) -> None:
    assert user_tables() == set() and current_revisions() == set()

    flask_migrate.upgrade()
    assert current_revisions() == heads()
    assert user_tables() == set(db.metadata.tables)
    assert differences(migrating_app) == []
    assert set(register_keys()) == CATEGORIES and len(register_keys()) == 4

    flask_migrate.downgrade(revision="base")
    assert current_revisions() == set()
    assert user_tables() == set()

    flask_migrate.upgrade()
    assert current_revisions() == heads()
    assert differences(migrating_app) == []
    assert register_keys() == ["input_events", "app_activity", "screenshots", "ai_training_use"]


def test_the_exclusions_log_starts_with_the_exclusions_in_force(migrating_app: Flask) -> None:
    """0017 fills the new log from the suppression list, in the order the exclusions began, so a
    pipeline reading the feed from the start after the upgrade misses none of them."""
    flask_migrate.upgrade(revision="0016_languages")
    people = [secrets.token_hex(16) for _ in range(2)]
    db.session.execute(Employee.__table__.insert(), [
        {"id": subject, "email_index": secrets.token_hex(32), "email_sealed": b"x", "name_sealed": b"x",
         "jurisdiction": "ES", "timezone": "UTC", "employment_status": "active"} for subject in people])
    suppressions = sa.table("suppressions", sa.column("subject_id"), sa.column("purpose"), sa.column("reason"),
                            sa.column("since", sa.DateTime(timezone=True)))
    db.session.execute(suppressions.insert(), [
        {"subject_id": people[0], "purpose": "ai_training", "reason": "objection",
         "since": datetime(2026, 11, 21, 9, tzinfo=UTC)},
        {"subject_id": people[1], "purpose": "screenshot_capture", "reason": "consent-withdrawn",
         "since": datetime(2026, 11, 20, 10, 15, tzinfo=UTC)}])
    db.session.commit()

    flask_migrate.upgrade()
    changes, _, more = feed.page(None)
    assert not more
    assert [(c.pseudonym, c.purpose, c.state, c.reason, c.since) for c in changes] == [
        (pseudonym(people[1]), "screenshot_capture", "excluded", "consent_withdrawn",
         datetime(2026, 11, 20, 10, 15, tzinfo=UTC)),
        (pseudonym(people[0]), "ai_training", "excluded", "objection_upheld", datetime(2026, 11, 21, 9, tzinfo=UTC))]


def test_known_english_statements_get_their_keys_and_the_rest_stays_as_stored(migrating_app: Flask) -> None:
    """0026 moves the outcomes and access purposes whose wording it knows to statement keys (so a
    Spanish reader reads them in Spanish); an unknown text stays as it was, and shows so."""
    from portal.i18n.statements import render
    from portal.rights.models import DataRequest

    flask_migrate.upgrade(revision="0025_subject_partitions")
    subject = secrets.token_hex(16)
    db.session.execute(Employee.__table__.insert(), [
        {"id": subject, "email_index": secrets.token_hex(32), "email_sealed": b"x", "name_sealed": b"x",
         "jurisdiction": "ES", "timezone": "UTC", "employment_status": "active"}])
    screenshots = db.session.execute(sa.text("SELECT name FROM data_categories WHERE key = 'screenshots'")).scalar()
    held = (f"Your data was erased. Some of your data is under a legal hold and was not erased: {screenshots} (1,204). "
            "It is kept blocked (stored, not used for anything else) until the hold is lifted; the portal then erases "
            "it as this request asked and tells you. Legal basis: GDPR Art. 17(3)(e). If you disagree, you may "
            "complain to the AEPD.")
    outcomes = {
        "a" * 32: "Your data was erased and its key destroyed. The records of which AI training sets and models used "
                  "your data are kept, as evidence, and marked \u201cremoval required\u201d: the portal does not "
                  "itself remove data from training sets or from models already trained on them.",
        "b" * 32: held,
        "c" * 32: "Your objection is upheld: your data is no longer used for productivity analytics or profiling. "
                  "The exclusion is on the list that the systems using the data read.",
        "d" * 32: "A complete copy of your data is ready: download it from the request's page or from your exports "
                  "within 7 days.",
        "e" * 32: "Done by hand, in words nobody wrote in code.",
    }
    now = datetime(2026, 12, 1, 9, tzinfo=UTC)
    requests = sa.table("data_requests", *(sa.column(c) for c in (
        "id", "subject_id", "type", "state", "channel", "jurisdiction", "outcome")),
        sa.column("received_at", sa.DateTime(timezone=True)), sa.column("completed_at", sa.DateTime(timezone=True)))
    db.session.execute(requests.insert(), [
        {"id": rid, "subject_id": subject, "type": "erasure", "state": "completed", "channel": "portal",
         "jurisdiction": "ES", "outcome": text, "received_at": now, "completed_at": now}
        for rid, text in outcomes.items()])
    accesses = sa.table("access_records", *(sa.column(c) for c in (
        "subject_id", "action", "accessor_role", "accessor_id", "purpose", "case_ref")),
        sa.column("accessed_at", sa.DateTime(timezone=True)))
    db.session.execute(accesses.insert(), [
        {"subject_id": subject, "action": "viewed", "accessor_role": "dpo", "accessor_id": "f" * 32,
         "purpose": purpose, "case_ref": "R-AAAAAAAA", "accessed_at": now}
        for purpose in ("Handling request R-AAAAAAAA", "Legal claims (LIT-9), request R-AAAAAAAA",
                        "Looked because I was curious")])
    db.session.commit()

    flask_migrate.upgrade()
    rows = {r.id: r for r in db.session.scalars(sa.select(DataRequest))}
    assert rows["a" * 32].outcome_statement == {"key": "request.erased", "params": {
        "key_destroyed": True, "removal_required": True, "held": {}, "jurisdiction": "ES"}}
    assert rows["b" * 32].outcome_statement == {"key": "request.erased", "params": {
        "key_destroyed": False, "removal_required": False, "held": {"screenshots": 1204}, "jurisdiction": "ES"}}
    assert rows["c" * 32].outcome_statement == {"key": "request.objection-upheld", "params": {"purpose": "analytics"}}
    assert rows["d" * 32].outcome_statement == {"key": "request.copy-ready", "params": {"days": 7}}
    assert rows["e" * 32].outcome_statement is None
    assert all(rows[k].outcome_legacy is None for k in outcomes if k != "e" * 32)
    with migrating_app.test_request_context():
        assert rows["e" * 32].outcome == "Done by hand, in words nobody wrote in code."
        assert rows["a" * 32].outcome == outcomes["a" * 32]  # worded again, the same in English
    stored = db.session.execute(sa.text("SELECT purpose, purpose_statement FROM access_records ORDER BY id")).all()
    import json

    assert [json.loads(s) if isinstance(s, str) else s for _, s in stored] == [
        {"key": "access.handling-request", "params": {"ref": "R-AAAAAAAA"}},
        {"key": "access.legal-claims", "params": {"matter": "LIT-9", "ref": "R-AAAAAAAA"}}, None]
    with migrating_app.test_request_context():
        assert render({"key": "access.legal-claims", "params": {"matter": "LIT-9", "ref": "R-AAAAAAAA"}}) == \
            stored[1][0]

    db.session.rollback()  # end the reading transaction: PostgreSQL's ALTER TABLE waits for it
    flask_migrate.downgrade(revision="0025_subject_partitions")  # the keyed outcomes get their English back
    back: dict[str, str] = dict(db.session.execute(sa.text("SELECT id, outcome FROM data_requests")).tuples().all())
    assert back["a" * 32] == outcomes["a" * 32] and back["c" * 32] == outcomes["c" * 32]
    assert back["d" * 32] == outcomes["d" * 32] and back["e" * 32] == outcomes["e" * 32]


def test_0027_seals_applications_and_sites_and_keeps_none_of_an_erased_person(migrating_app: Flask) -> None:
    """0027 turns each clear application and site into blind indexes under the person's key and
    the names sealed with it, in events, screenshots and the totals per site and application,
    without decrypting anything; the rows of a person whose key is already destroyed keep no
    name. Going down opens them again."""
    from portal.crypto import keystore
    from portal.monitoring import aggregates
    from portal.monitoring.models import ActivityEvent, Screenshot

    flask_migrate.upgrade(revision="0024_erasure_ground")  # before 0025 partitions the tables
    kept, erased = sorted(secrets.token_hex(16) for _ in range(2))
    db.session.execute(Employee.__table__.insert(), [
        {"id": subject, "email_index": secrets.token_hex(32), "email_sealed": b"x", "name_sealed": b"x",
         "jurisdiction": "ES", "timezone": "UTC", "employment_status": "active"} for subject in (kept, erased)])
    at = datetime(2026, 11, 20, 9, tzinfo=UTC)
    events = sa.table("activity_events", *(sa.column(c) for c in (
        "subject_id", "source_event_id", "category", "kind", "application", "site_domain", "duration_ms", "sealed")),
        sa.column("occurred_at", sa.DateTime(timezone=True)))
    db.session.execute(events.insert(), [
        {"subject_id": subject, "source_event_id": f"ev-{n}", "category": "app_activity",
         "kind": "site_visit" if n % 2 else "app_focus", "occurred_at": at, "application": f"Ledger{n % 2}",
         "site_domain": "payroll.example.com" if n % 2 else None, "duration_ms": 1000, "sealed": b"\x01sealed"}
        for subject in (kept, erased) for n in range(4)])
    shots = sa.table("screenshots", *(sa.column(c) for c in (
        "id", "subject_id", "source_id", "application", "site_domain", "media_type", "width", "height",
        "byte_size")), sa.column("captured_at", sa.DateTime(timezone=True)))
    db.session.execute(shots.insert(), [
        {"id": secrets.token_hex(16), "subject_id": subject, "source_id": "shot-1", "captured_at": at,
         "application": "Shotter", "site_domain": "shots.example.net", "media_type": "image/png", "width": 1,
         "height": 1, "byte_size": 1} for subject in (kept, erased)])
    targets = sa.table("activity_targets", *(sa.column(c) for c in (
        "subject_id", "target_type", "target", "duration_ms", "events")))
    db.session.execute(targets.insert(), [
        {"subject_id": subject, "target_type": kind, "target": name, "duration_ms": 2000, "events": 2}
        for subject in (kept, erased) for kind, name in (("app", "Ledger0"), ("site", "payroll.example.com"))])
    db.session.commit()
    keystore().create(kept)
    keystore().create(erased)
    keystore().destroy(erased)

    flask_migrate.upgrade()
    assert differences(migrating_app) == []
    cipher = keystore().cipher(kept)
    rows = db.session.scalars(sa.select(ActivityEvent).order_by(ActivityEvent.source_event_id)).all()
    mine = [r for r in rows if r.subject_id == kept]
    assert [(r.application, r.site_domain) for r in mine] == [
        ("Ledger0", None), ("Ledger1", "payroll.example.com"), ("Ledger0", None), ("Ledger1", "payroll.example.com")]
    assert all(r.app_bidx == cipher.name_index("app", r.application) for r in mine)
    assert [r.site_bidx for r in mine][1] == cipher.name_index("site", "payroll.example.com")
    assert {(r.app_bidx, r.site_bidx, r.sealed_names) for r in rows if r.subject_id == erased} == {(None, None, None)}
    (shot,) = db.session.scalars(sa.select(Screenshot).where(Screenshot.subject_id == kept))
    assert (shot.application, shot.site_domain) == ("Shotter", "shots.example.net")
    assert {(t.target_type, t.target, t.events) for t in aggregates.top_targets(kept).top} == {
        ("app", "Ledger0", 2), ("site", "payroll.example.com", 2)}
    assert aggregates.top_targets(erased).top == []
    inspector = sa.inspect(db.engine)
    for table in ("activity_events", "screenshots", "activity_targets"):
        columns = {c["name"] for c in inspector.get_columns(table)}
        assert not columns & {"application", "site_domain", "target"}, table
    db.session.commit()

    flask_migrate.downgrade(revision="0026_statement_keys")
    with db.engine.connect() as conn:
        back = conn.execute(sa.text("SELECT subject_id, application, site_domain FROM activity_events"
                                    " ORDER BY subject_id, source_event_id")).all()
        totals = conn.execute(sa.text("SELECT subject_id, target_type, target FROM activity_targets")).all()
    assert [(a, s) for subject, a, s in back if subject == kept] == [
        ("Ledger0", None), ("Ledger1", "payroll.example.com"), ("Ledger0", None), ("Ledger1", "payroll.example.com")]
    assert {(a, s) for subject, a, s in back if subject == erased} == {("", None)}
    assert sorted(totals) == [(kept, "app", "Ledger0"), (kept, "site", "payroll.example.com")]


def test_the_records_of_use_move_into_the_training_set_ledger_and_back(migrating_app: Flask) -> None:
    """0028 turns each record of use into a member of its snapshot (its data set, snapshot and model
    made once), and a record an erasure marked into a removal caused by that erasure; down again,
    the records come back as they were."""
    from portal.training.services import uses_of

    flask_migrate.upgrade(revision="0027_sealed_names")
    people = [secrets.token_hex(16) for _ in range(2)]
    db.session.execute(Employee.__table__.insert(), [
        {"id": subject, "email_index": secrets.token_hex(32), "email_sealed": b"x", "name_sealed": b"x",
         "jurisdiction": "ES", "timezone": "UTC", "employment_status": "active"} for subject in people])
    uses = sa.table("training_set_uses", sa.column("subject_id"), sa.column("dataset"), sa.column("snapshot"),
                    sa.column("record_count"), sa.column("used_on", sa.Date), sa.column("model"),
                    sa.column("removal_required_at", sa.DateTime(timezone=True)), sa.column("removal_request_id"))
    marked = datetime(2026, 11, 20, 9, tzinfo=UTC)
    rows = [
        {"subject_id": people[0], "dataset": "assist", "snapshot": "s1", "record_count": 5,
         "used_on": datetime(2026, 10, 1).date(), "model": "assist-7b", "removal_required_at": marked,
         "removal_request_id": None},
        {"subject_id": people[1], "dataset": "assist", "snapshot": "s1", "record_count": 7,
         "used_on": datetime(2026, 10, 1).date(), "model": "assist-7b", "removal_required_at": None,
         "removal_request_id": None},
        {"subject_id": people[0], "dataset": "screens", "snapshot": "s1", "record_count": 2,
         "used_on": datetime(2026, 11, 2).date(), "model": "parser", "removal_required_at": None,
         "removal_request_id": None}]
    db.session.execute(uses.insert(), rows)
    db.session.commit()

    flask_migrate.upgrade()
    found = {(u.dataset, u.snapshot): u for u in uses_of(people[0])}
    assert set(found) == {("assist", "s1"), ("screens", "s1")}
    assist = found[("assist", "s1")]
    assert (assist.record_count, assist.model, assist.used_on.isoformat()) == (5, "assist-7b", "2026-10-01")
    assert assist.removal is not None and (assist.removal.cause, assist.removal_required_at) == ("erasure", marked)
    assert found[("screens", "s1")].removal is None
    assert [(u.snapshot, u.record_count, u.removal) for u in uses_of(people[1])] == [("s1", 7, None)]
    db.session.commit()

    flask_migrate.downgrade(revision="0027_sealed_names")
    def plain(row: dict[str, object]) -> tuple[object, ...]:
        at = row["removal_required_at"]
        naive = at.astimezone(UTC).replace(tzinfo=None) if isinstance(at, datetime) and at.tzinfo else at
        return (*(row[k] for k in ("dataset", "subject_id", "snapshot", "record_count", "used_on", "model")), naive)

    back = db.session.execute(sa.select(uses)).mappings().all()
    assert sorted(plain(dict(r)) for r in back) == sorted(plain(r) for r in rows)
