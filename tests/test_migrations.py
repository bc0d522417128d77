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
            "compare_server_default": args.get("compare_server_default", False)}
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


def test_the_records_of_use_move_into_the_training_set_ledger_and_back(migrating_app: Flask) -> None:
    """0023 turns each record of use into a member of its snapshot (its data set, snapshot and model
    made once), and a record an erasure marked into a removal caused by that erasure; down again,
    the records come back as they were."""
    from portal.training.services import uses_of

    flask_migrate.upgrade(revision="0021_profiling")
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

    flask_migrate.downgrade(revision="0021_profiling")
    def plain(row: dict[str, object]) -> tuple[object, ...]:
        at = row["removal_required_at"]
        naive = at.astimezone(UTC).replace(tzinfo=None) if isinstance(at, datetime) and at.tzinfo else at
        return (*(row[k] for k in ("dataset", "subject_id", "snapshot", "record_count", "used_on", "model")), naive)

    back = db.session.execute(sa.select(uses)).mappings().all()
    assert sorted(plain(dict(r)) for r in back) == sorted(plain(r) for r in rows)
