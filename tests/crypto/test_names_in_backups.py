"""Where a person worked does not outlive their erasure in old copies of the database (issue 16,
finding 6): applications and sites are sealed with the person's key like titles and URLs, and
found through blind indexes under a key derived from it. A copy of the database taken before the
erasure (the SQLite file and its write-ahead log copied as they are, or every row of every table
as text on PostgreSQL, as a dump holds them) is searched, after the erasure, for every seeded
application, site, title and URL: none is found, in any of the forms the bytes could hold them."""

from __future__ import annotations

import contextlib
import shutil
import sqlite3
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from flask import Flask
from sqlalchemy import text

from portal.consent.models import Purpose
from portal.consent.services import has_consent
from portal.crypto import keystore
from portal.crypto.keys import SealError
from portal.extensions import db
from portal.jobs.models import JobState
from portal.monitoring import services as monitoring
from portal.monitoring.ingest import ingest_batch
from portal.monitoring.models import ActivityEvent, Screenshot
from tests.conftest import both_databases
from tests.helpers import event, grant_all_consents
from tests.monitoring.support import png
from tests.monitoring.test_canaries import leaks
from tests.rights.support import World, run_now, start_world
from tests.rights.test_erasure import approved_erasure

APP = "Zyxwv Ledger-Pro 71"
APP_ALONE = "Obscura-Notes-3d5"
SITE = "payroll-secret-4471.example.com"
TITLE = "Quarterly layoffs draft 8c1f"
URL = f"https://{SITE}/q3/8c1f-plan?who=everyone"
SHOT_APP = "Qrst-ScreenApp-c3a"
SHOT_SITE = "shots-9e0d.example.net"
SEEDED = (APP, APP_ALONE, SITE, TITLE, URL, SHOT_APP, SHOT_SITE)
BOB_APP = "Bobs-Own-Editor-55"  # someone else's, kept: the copy's clear facts are readable


@pytest.fixture
def world(app: Flask) -> Iterator[World]:
    yield from start_world(app)


def seed(subject_id: str, app_name: str = APP, app_alone: str = APP_ALONE) -> None:
    if not has_consent(subject_id, Purpose.SCREENSHOT_CAPTURE):
        grant_all_consents(subject_id)
    now = datetime.now(UTC) - timedelta(hours=1)
    events = [event(n, occurred_at=(now - timedelta(minutes=n)).isoformat(), application=app_name,
                    site_domain=SITE, url=URL, title=TITLE) for n in range(6)]
    events += [event(10 + n, kind="app_focus", occurred_at=(now - timedelta(minutes=10 + n)).isoformat(),
                     application=app_alone, site_domain=None, url=None, title=f"{TITLE} ({n})", duration_ms=60_000)
               for n in range(4)]
    shots = [{"screenshot_id": f"shot-{n}", "captured_at": (now - timedelta(minutes=n, seconds=30)).isoformat(),
              "application": SHOT_APP, "site_domain": SHOT_SITE, "image": png(f"shot {n}")} for n in range(3)]
    ingest_batch(subject_id, events=events, screenshots=shots)
    db.session.commit()


def copy_of_the_database(into: Path) -> bytes:
    """The database as a copy taken now holds it: on SQLite the file and its write-ahead log,
    copied byte for byte; on PostgreSQL every row of every table as text (bytea in hex)."""
    if db.engine.dialect.name == "sqlite":
        database = Path(db.engine.url.database or "")
        into.mkdir()
        copied = []
        for part in (database, database.with_name(database.name + "-wal")):
            if part.exists():
                copied.append(shutil.copyfile(part, into / part.name))
        assert copied and copied[0].name == database.name
        return b"".join(Path(p).read_bytes() for p in copied)
    rows: list[str] = []
    for table in db.metadata.sorted_tables:
        rows.extend(db.session.scalars(text(f'SELECT t::text FROM "{table.name}" t')))
    db.session.rollback()
    return "\n".join(rows).encode()


@both_databases
def test_a_copy_taken_before_an_erasure_holds_no_application_site_title_or_url_of_the_person(
        world: World, app: Flask, tmp_path: Path) -> None:
    seed(world.alice)
    seed(world.bob, app_name=BOB_APP, app_alone=BOB_APP)
    # Seeded for real: the portal shows them to her, opened with her key.
    dashboard = monitoring.dashboard(world.alice, "UTC")
    assert {t.target for t in dashboard.targets.top} == {SITE, APP_ALONE}
    assert {(e.application, e.site_domain) for e in dashboard.events} == {(APP, SITE)}
    assert {(s.application, s.site_domain) for s in dashboard.screenshots} == {(SHOT_APP, SHOT_SITE)}
    key = keystore().cipher(world.alice)
    index_of_app = key.name_index("app", APP)
    db.session.rollback()

    before = copy_of_the_database(tmp_path / "copy")
    # The copy is readable where the portal keeps things in clear (kinds, times, the audit log) ...
    assert b"site_visit" in before and b"monitoring:batch:ingest" in before
    # ... the blind index of her application is in it (only her key links it to the name) ...
    assert index_of_app in before or index_of_app.hex().encode() in before
    # ... and none of her names, titles or addresses is, in any form; nor anyone else's name.
    assert leaks(before, SEEDED) == []
    assert leaks(before, [BOB_APP]) == []

    request_id, job_id = approved_erasure(world)
    assert run_now(job_id) == JobState.SUCCEEDED
    db.session.commit()
    assert not keystore().exists(world.alice)

    # After the erasure the copy still holds her rows, sealed, and nothing that opens or names them:
    # no key in it, and no way to compute a blind index of hers without her destroyed key.
    assert leaks(before, SEEDED) == []
    assert db.session.scalar(text("SELECT count(*) FROM activity_events WHERE subject_id = :s"),
                             {"s": world.alice}) == 0
    if db.engine.dialect.name == "sqlite":
        with contextlib.closing(sqlite3.connect(tmp_path / "copy" / Path(db.engine.url.database or "").name)) as conn:
            sealed = conn.execute("SELECT source_event_id, sealed_names FROM activity_events WHERE subject_id = ?",
                                  (world.alice,)).fetchall()
            columns = {row[1] for row in conn.execute("PRAGMA table_info(activity_events)")}
        assert len(sealed) == 10, "the copy holds her events, their names sealed"
        assert not columns & {"application", "site_domain"}
        assert {key.open_names("event-names", source, blob) for source, blob in sealed} == {(APP, SITE),
                                                                                            (APP_ALONE, None)}
        for subject in keystore().subject_ids():  # every key left opens none of them
            cipher = keystore().cipher(subject)
            for source, blob in sealed:
                with pytest.raises(SealError):
                    cipher.open_names("event-names", source, blob)
    # Bob's names still open with his key: the copy, and the portal, work for everyone else.
    bob = db.session.scalars(db.select(ActivityEvent).where(ActivityEvent.subject_id == world.bob)).all()
    assert {(e.application, e.site_domain) for e in bob} == {(BOB_APP, SITE), (BOB_APP, None)}
    shot = db.session.scalars(db.select(Screenshot).where(Screenshot.subject_id == world.bob)).first()
    assert shot is not None and (shot.application, shot.site_domain) == (SHOT_APP, SHOT_SITE)


def test_an_erasure_that_leaves_data_leaves_no_name_of_what_it_erased(world: World, app: Flask) -> None:
    """An erasure of some categories keeps the key (data is left), so what it erased must not stay
    behind as a sealed name: the totals per site and application are recounted from what is left,
    and a name none of the remaining events has goes with its row."""
    from sqlalchemy import select

    from portal.monitoring import aggregates
    from portal.monitoring.models import ActivityTarget

    seed(world.alice)  # app_activity: APP on SITE, APP_ALONE on its own
    now = datetime.now(UTC) - timedelta(hours=2)
    ingest_batch(world.alice, events=[event(50 + n, kind="click", occurred_at=(now - timedelta(minutes=n)).isoformat(),
                                            application="Kept-Editor", site_domain=None, url=None, title=None,
                                            duration_ms=1000) for n in range(3)])
    db.session.commit()
    cipher = keystore().cipher(world.alice)
    erased_indexes = {cipher.name_index("app", APP_ALONE), cipher.name_index("site", SITE)}
    assert erased_indexes <= set(db.session.scalars(select(ActivityTarget.bidx)))

    request_id, job_id = approved_erasure(world, categories=["app_activity"])
    assert run_now(job_id) == JobState.SUCCEEDED
    db.session.commit()

    assert keystore().exists(world.alice)  # her input events are left
    targets = aggregates.top_targets(world.alice, limit=100).top
    assert [(t.target_type, t.target, t.events) for t in targets] == [("app", "Kept-Editor", 3)]
    left = set(db.session.scalars(select(ActivityTarget.bidx).where(ActivityTarget.subject_id == world.alice)))
    assert left == {cipher.name_index("app", "Kept-Editor")} and not left & erased_indexes
    assert {(e.application, e.site_domain) for e in db.session.scalars(
        select(ActivityEvent).where(ActivityEvent.subject_id == world.alice))} == {("Kept-Editor", None)}
