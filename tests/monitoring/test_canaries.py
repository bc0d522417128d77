"""Canaries: recognisable personal values are seeded through the real ingestion and directory code,
read back through the services, and must then appear nowhere in clear: not in the database (its
raw file on SQLite, every row as text on PostgreSQL), not in the artifact or key directories, not
in the logs, and not in the message of a refused batch."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import text

from portal.audit.services import Actor
from portal.extensions import db
from portal.monitoring import services as monitoring
from portal.monitoring.ingest import IngestError, ingest_batch
from portal.people import services as people
from tests.conftest import both_databases
from tests.helpers import event, grant_all_consents
from tests.monitoring.support import png, shot, snapshot

CANARY_URL = "CANARY-URL-7f3a"
CANARY_TITLE = "CANARY-TITLE-9b2c"
CANARY_PAYLOAD = "CANARY-PAYLOAD-e5a7"
CANARY_SHOT = "CANARY-SHOT-41d0"
CANARY_NAME = "Canary Name-c0d9"
CANARY_EMAIL = "canary.mail-3c88@example.com"
CANARY_NUMBER = "CANARY-EMPNO-66b1"
CANARY_APP = "CanaryApp-5e21"  # applications and sites are sealed too (issue 16, finding 6)
CANARY_SITE = "canary-site-0a4f.example.org"
CANARY_SHOT_APP = "CanaryShotApp-77d3"
CANARY_SHOT_SITE = "canary-shot-site-2b9e.example.net"
CANARIES = (CANARY_URL, CANARY_TITLE, CANARY_PAYLOAD, CANARY_SHOT, CANARY_NAME, CANARY_EMAIL, CANARY_NUMBER,
            CANARY_APP, CANARY_SITE, CANARY_SHOT_APP, CANARY_SHOT_SITE)


def leaks(haystack: bytes | str, canaries: Iterable[str] = CANARIES) -> list[str]:
    """The canaries found in ``haystack``: in UTF-8 or UTF-16, any case, or hex-encoded (as
    PostgreSQL prints bytea)."""
    data = (haystack.encode() if isinstance(haystack, str) else haystack).lower()
    found = []
    for canary in canaries:
        forms = (canary.lower().encode(), canary.lower().encode("utf-16-le"), canary.encode().hex().encode())
        if any(form in data for form in forms):
            found.append(canary)
    return found


def files_under(*roots: Path) -> Iterator[Path]:
    for root in roots:
        yield from (p for p in root.rglob("*") if p.is_file())


def assert_no_leak_in_files(*roots: Path) -> None:
    files = list(files_under(*roots))
    assert files, "the check must look at something"
    for path in files:
        assert leaks(path.read_bytes()) == [], f"canary in {path}"


def assert_no_leak_in_logs(caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]) -> None:
    captured = capsys.readouterr()
    records = "\n".join(f"{r.name} {r.getMessage()} {r.exc_text or ''}" for r in caplog.records)
    for where, output in (("log records", records), ("caplog", caplog.text), ("stdout", captured.out),
                          ("stderr", captured.err)):
        assert leaks(output) == [], f"canary in {where}"


@pytest.fixture
def logs(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    caplog.set_level(logging.DEBUG)
    caplog.set_level(logging.INFO, logger="sqlalchemy.engine")  # every statement and its parameters, too
    return caplog


def canary_image() -> bytes:
    """The canary drawn into the pixels and, so that the plain image's bytes carry it
    verbatim, also in a tEXt chunk."""
    image = png(CANARY_SHOT, size=(200, 40), comment=f"window {CANARY_SHOT}")
    assert CANARY_SHOT.encode() in image
    return image


def seed(app: Flask) -> tuple[str, bytes]:
    """Seed every canary through the real services; read them back as the home page would."""
    image = canary_image()
    with app.app_context():
        employee = people.create_employee(email=CANARY_EMAIL, display_name=CANARY_NAME, jurisdiction="ES",
                                          employee_number=CANARY_NUMBER, actor=Actor.system())
        db.session.flush()
        grant_all_consents(employee.id)
        db.session.commit()
        subject = employee.id
        ingest_batch(subject, [
            event(1, url=f"https://intranet.example.com/{CANARY_URL}?q={CANARY_URL}", title=f"{CANARY_TITLE} — Wiki",
                  application=CANARY_APP, site_domain=CANARY_SITE),
            event(2, kind="key_timing", payload={"note": CANARY_PAYLOAD, "intervals_ms": [90, 110]}),
            event(3, kind="click", x=12, y=34, title=CANARY_TITLE, application=CANARY_APP, site_domain=None),
        ], [shot(1, image, application=CANARY_SHOT_APP, site_domain=CANARY_SHOT_SITE)])
        db.session.commit()

    with app.app_context():
        # The home page's data, without signing in: totals, recent items, each item opened.
        subject_row = people.find_by_email(CANARY_EMAIL.upper())
        assert subject_row is not None
        assert (subject_row.display_name, subject_row.email, subject_row.employee_number) == (
            CANARY_NAME, CANARY_EMAIL, CANARY_NUMBER)
        assert {t.category.key: t.count for t in monitoring.category_totals(subject)}["input_events"] == 2
        events = monitoring.recent_events(subject)
        opened = [(monitoring.open_event(e), e.application, e.site_domain) for e in events]
        assert sorted(leaks(repr(opened))) == sorted([CANARY_URL, CANARY_TITLE, CANARY_PAYLOAD, CANARY_APP,
                                                      CANARY_SITE]), "seeded for real"
        (screenshot,) = monitoring.recent_screenshots(subject)
        assert monitoring.open_screenshot(screenshot) == image
        assert (screenshot.application, screenshot.site_domain) == (CANARY_SHOT_APP, CANARY_SHOT_SITE)
        assert sorted(t.target for t in monitoring.dashboard(subject, "UTC").targets.top) == sorted(
            [CANARY_APP, CANARY_SITE, "github.com"])
        db.session.commit()
    return subject, image


def database_dump(app: Flask) -> bytes:
    """The stored database as bytes: the SQLite file (and its -wal/-shm, if any, after a
    checkpoint), or on PostgreSQL every row of every table as text."""
    with app.app_context():
        if db.engine.dialect.name == "sqlite":
            with db.engine.connect() as conn:
                conn.execute(text("PRAGMA wal_checkpoint(TRUNCATE)"))
            main = Path(db.engine.url.database)  # type: ignore[arg-type]
            parts = [p for p in main.parent.iterdir() if p.name.startswith(main.name)]
            assert main in parts
            return b"".join(p.read_bytes() for p in parts)
        rows: list[str] = []
        for table in db.metadata.sorted_tables:
            rows.extend(db.session.scalars(text(f'SELECT t::text FROM "{table.name}" t')))
        assert any("monitoring:batch:ingest" in row for row in rows), "the dump holds the seeded rows"
        return "\n".join(rows).encode()


@both_databases
def test_canaries_appear_nowhere_in_clear(app: Flask, logs: pytest.LogCaptureFixture,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    _, image = seed(app)
    settings = app.config["PORTAL_SETTINGS"]

    dump = database_dump(app)
    assert b"key_timing" in dump.lower(), "the dump is readable: facts stored in clear by design are found"
    assert leaks(dump) == []

    assert_no_leak_in_files(settings.artifact_dir)
    assert_no_leak_in_files(settings.key_dir)
    # Everything the test's app wrote: database file, artifacts, keys, sessions, instance dir.
    assert_no_leak_in_files(Path(settings.instance_dir).parent)
    # Not the image either: its compressed pixel data never lands anywhere as is.
    idat = image[image.index(b"IDAT") + 4:][:32]
    assert idat[:1] == b"\x78", "the start of the pixels' zlib stream"
    for path in files_under(settings.artifact_dir, Path(settings.instance_dir).parent):
        assert idat not in path.read_bytes(), f"plain image data in {path}"

    assert_no_leak_in_logs(logs, capsys)


REFUSED: list[tuple[str, dict[str, Any]]] = [
    ("url-scheme", event(1, url=f"ftp://{CANARY_URL}.example.com/{CANARY_URL}", title=CANARY_TITLE)),
    ("url-too-long", event(1, url=f"https://example.com/{CANARY_URL}" + "a" * 2048)),
    ("title-too-long", event(1, url=f"https://example.com/{CANARY_URL}", title=CANARY_TITLE * 100)),
    ("title-control", event(1, title=f"{CANARY_TITLE}\x00\x1b[31m")),
    ("title-not-text", event(1, title=[CANARY_TITLE])),
    ("domain", event(1, site_domain=f"{CANARY_URL}/{CANARY_TITLE}")),
    ("kind", event(1, kind=CANARY_TITLE)),
    ("time", event(1, occurred_at=CANARY_TITLE)),
    ("event-id", event(1, event_id=f"{CANARY_URL} {CANARY_TITLE}")),
    ("payload", event(1, payload={"note": CANARY_PAYLOAD * 400})),
    ("x", event(1, x=CANARY_TITLE)),
]


@pytest.mark.parametrize("bad", [bad for _, bad in REFUSED], ids=[name for name, _ in REFUSED])
def test_refused_batch_does_not_echo_or_store_the_canary(app: Flask, logs: pytest.LogCaptureFixture,
                                                         capsys: pytest.CaptureFixture[str], bad: dict[str, Any]) -> None:
    subject, _ = seed(app)
    capsys.readouterr()
    with app.app_context():
        before = snapshot(app)
        with pytest.raises(IngestError) as caught:
            ingest_batch(subject, [event(7), bad], [shot(2, canary_image())])
        assert str(caught.value).startswith("event 1: ")
        error = caught.value
        assert leaks(f"{error} {error!r} {error.args} {error.reason} {error.__cause__} {error.__context__}") == []
        logging.getLogger("tests.caller").warning("batch refused: %s", error)  # what a caller would log
        db.session.commit()
        assert snapshot(app) == before

    assert leaks(database_dump(app)) == []
    settings = app.config["PORTAL_SETTINGS"]
    assert_no_leak_in_files(Path(settings.instance_dir).parent)
    assert_no_leak_in_logs(logs, capsys)
