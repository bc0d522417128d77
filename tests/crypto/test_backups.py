"""Backups and crypto-shredding (docs/architecture.md, "Keys and backups").

A backup of the data is taken as the README says (the database, the instance folder, the artifact
folder); the key store is backed up apart. After an erasure, nothing of the person opens from the
data backup with every key that backup and the master key can give: the backup holds no key
file, and no file in it unwraps as the person's key. A key store restored from a backup taken
before the erasure brings the person's key back, so the data backup opens again, until
`keys reapply-erasures` (or the periodic sweep) destroys it again, while a key made for the same
person after the erasure, and everybody else's keys, are kept."""

from __future__ import annotations

import contextlib
import shutil
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask

from portal.crypto import KeyStore, keystore
from portal.crypto.keys import SealError, SubjectCipher
from portal.extensions import db
from portal.jobs.models import JobState
from portal.jobs.runners import run_periodic
from tests.helpers import file_keystore
from tests.rights.support import World, fill, run_now, start_world
from tests.rights.test_erasure import approved_erasure


@pytest.fixture
def world(app: Flask) -> Iterator[World]:
    yield from start_world(app)


def back_up_the_data(app: Flask, into: Path) -> Path:
    """What the README's backup section says to back up with the data, copied into ``into``."""
    settings = app.config["PORTAL_SETTINGS"]
    database = Path(db.engine.url.database or "")
    into.mkdir()
    with contextlib.closing(sqlite3.connect(database)) as live, \
            contextlib.closing(sqlite3.connect(into / "portal.db")) as copy:
        live.backup(copy)  # SQLite's online backup: every committed row, WAL included
    shutil.copytree(settings.instance_dir, into / "instance")
    shutil.copytree(settings.artifact_dir, into / "artifacts")
    return into


def back_up_the_key_store(into: Path) -> Path:
    shutil.copytree(file_keystore().directory, into)
    return into


def sealed_of(backup: Path, subject_id: str) -> tuple[list[tuple[str, bytes]], list[Path]]:
    """The person's sealed events in the backup's database and sealed screenshots in its artifacts."""
    with contextlib.closing(sqlite3.connect(backup / "portal.db")) as conn:
        rows = conn.execute("SELECT source_event_id, sealed FROM activity_events WHERE subject_id = ?",
                            (subject_id,)).fetchall()
    return rows, sorted((backup / "artifacts" / "screenshots" / subject_id).glob("*.sealed"))


def keys_from(files: list[Path], subject_id: str, master_key: bytes, scratch: Path) -> list[bytes]:
    """Every data key of ``subject_id`` that any of ``files`` gives with the master key."""
    found = []
    for n, path in enumerate(files):
        if not path.is_file():
            continue
        trial = scratch / str(n)
        trial.mkdir(parents=True)
        shutil.copyfile(path, trial / f"{subject_id}.key")
        with contextlib.suppress(SealError, ValueError):
            found.append(KeyStore(trial, master_key).data_key(subject_id))
    return found


def opened(rows: list[tuple[str, bytes]], shots: list[Path], subject_id: str, keys: list[bytes]) -> int:
    """How many of the sealed values open with any of ``keys``."""
    count = 0
    for key in keys:
        cipher = SubjectCipher(subject_id, key)
        for source_id, blob in rows:
            with contextlib.suppress(SealError):
                cipher.open_json("event", source_id, blob)
                count += 1
        for path in shots:
            with contextlib.suppress(SealError):
                cipher.open_bytes("screenshot", path.name.removesuffix(".sealed"), path.read_bytes())
                count += 1
    return count


def test_nothing_of_an_erased_person_opens_from_a_backup_and_a_restored_key_store_is_shredded_again(
        world: World, app: Flask, tmp_path: Path) -> None:
    master = app.config["PORTAL_SETTINGS"].master_key_bytes
    fill(world.alice, events=12, shots=3)
    fill(world.bob, events=4, shots=1)
    request_id, job_id = approved_erasure(world)
    data_backup = back_up_the_data(app, tmp_path / "backup-data")
    key_backup = back_up_the_key_store(tmp_path / "backup-keys")
    rows, shots = sealed_of(data_backup, world.alice)
    assert len(rows) == 12 and len(shots) == 3
    every_file = sorted(p for p in data_backup.rglob("*") if p.is_file())
    assert not [p for p in every_file if p.suffix == ".key"]  # the data backup took no key along
    # The key-store backup is what opens them (so this test can tell opened from not).
    assert opened(rows, shots, world.alice, keys_from(sorted(key_backup.iterdir()), world.alice, master,
                                                     tmp_path / "trial-before")) == 15

    assert run_now(job_id) == JobState.SUCCEEDED
    db.session.commit()

    # Every file of the data backup, tried as the person's wrapped key with the master key: none is.
    assert keys_from(every_file, world.alice, master, tmp_path / "trial-after") == []
    # The live key store no longer holds her key; what it holds opens nothing of hers.
    live_keys = [keystore().data_key(s) for s in keystore().subject_ids()]
    assert world.alice not in keystore().subject_ids() and live_keys
    assert opened(rows, shots, world.alice, live_keys) == 0

    # The key store restored from its backup brings her key back: the data backup opens again...
    shutil.rmtree(file_keystore().directory)
    shutil.copytree(key_backup, file_keystore().directory)
    assert keystore().exists(world.alice)
    assert opened(rows, shots, world.alice, [keystore().data_key(world.alice)]) == 15
    # ...until the destroyed keys are re-applied (the sweep does it too, as the command does).
    run_periodic(all_due=True)
    assert not keystore().exists(world.alice) and keystore().exists(world.bob)
    assert world.alice not in keystore().subject_ids()

    # A key made for her after the erasure (ingestion refuses her data now, but a key made later,
    # for whatever reason, is not a destroyed key): kept.
    keystore().create(world.alice)
    new_key_id = keystore().key_id(world.alice)
    run_periodic(all_due=True)
    assert new_key_id is not None and keystore().key_id(world.alice) == new_key_id


# -- nothing readable left in the live database files -------------------------------------------

def traces(path: Path, needles: list[bytes]) -> int:
    """How many of ``needles`` occur in the raw bytes of ``path`` (0 if it does not exist)."""
    if not path.exists():
        return 0
    raw = path.read_bytes()
    return sum(1 for needle in needles if needle in raw)


def test_after_an_erasure_the_raw_database_files_hold_nothing_of_the_erased_rows(world: World, app: Flask) -> None:
    """The main file and the write-ahead log are read byte by byte for the erased rows' own
    values: the ids the capture agent gave them and slices of their sealed bytes."""
    fill(world.alice, events=40, shots=4, prefix="alice-only-")
    fill(world.bob, events=6, shots=1)
    with contextlib.closing(sqlite3.connect(Path(db.engine.url.database or ""))) as conn:
        rows = conn.execute("SELECT source_event_id, sealed FROM activity_events WHERE subject_id = ?",
                            (world.alice,)).fetchall()
        shot_ids = [r[0] for r in conn.execute("SELECT id FROM screenshots WHERE subject_id = ?", (world.alice,))]
    needles = [source_id.encode() for source_id, _ in rows] + [blob[20:44] for _, blob in rows]
    needles += [shot_id.encode() for shot_id in shot_ids]
    database = Path(db.engine.url.database or "")
    wal = database.with_name(database.name + "-wal")
    assert traces(database, needles) + traces(wal, needles) == len(needles)  # all there before
    request_id, job_id = approved_erasure(world)

    assert run_now(job_id) == JobState.SUCCEEDED
    db.session.commit()
    db.session.remove()

    assert traces(database, needles) == 0
    assert traces(wal, needles) == 0
    # What the deletion certificate then says of the database files is what was done.
    from portal.rights.certificate import certificate_facts
    from portal.rights.models import DataRequest

    request = db.session.get(DataRequest, request_id)
    assert request is not None and certificate_facts(request)["database_files"] == "overwritten"
    assert wal.exists() and wal.stat().st_size < 64 * 1024  # emptied, then only the job's last write
    with contextlib.closing(sqlite3.connect(database)) as conn:  # the rows of others are all there
        assert conn.execute("SELECT count(*) FROM activity_events WHERE subject_id = ?",
                            (world.bob,)).fetchone() == (6,)


def postgres_files() -> list[Path]:
    """Every file of the test's database on the PostgreSQL server (tables, indexes, TOAST), after a
    checkpoint has written every changed page to them."""
    from sqlalchemy import text

    with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.exec_driver_sql("CHECKPOINT")
        data_directory = conn.execute(text("SHOW data_directory")).scalar()
        oid = conn.execute(text("SELECT oid FROM pg_database WHERE datname = current_database()")).scalar()
    folder = Path(str(data_directory)) / "base" / str(oid)
    if not folder.is_dir():
        pytest.skip("the PostgreSQL server's files are not readable from here")
    return [path for path in folder.iterdir() if path.is_file()]


@pytest.mark.parametrize("app", [pytest.param("postgres", marks=pytest.mark.postgres)], indirect=True)
def test_after_an_erasure_the_postgresql_files_hold_nothing_of_the_erased_rows(world: World, app: Flask) -> None:
    """PostgreSQL never overwrites a deleted row: a DELETE and a VACUUM leave its bytes in the
    table's and indexes' files. Each person's monitoring rows are therefore kept in tables of their
    own (partitions), which an erasure of everything drops: every file of the database is read
    byte by byte for the erased rows' own values (the ids the capture agent gave them, slices of
    their sealed bytes, the screenshots' ids) and none is left; the certificate says "removed"."""
    from sqlalchemy import text

    from portal.rights.certificate import certificate_facts
    from portal.rights.models import DataRequest

    fill(world.alice, events=40, shots=4, prefix="alice-only-")
    fill(world.bob, events=6, shots=1)
    rows = db.session.execute(text("SELECT source_event_id, sealed FROM activity_events WHERE subject_id = :s"),
                              {"s": world.alice}).all()
    shot_ids = db.session.execute(text("SELECT id FROM screenshots WHERE subject_id = :s"),
                                  {"s": world.alice}).scalars().all()
    db.session.commit()
    needles = [source_id.encode() for source_id, _ in rows] + [bytes(blob[20:44]) for _, blob in rows]
    needles += [shot_id.encode() for shot_id in shot_ids]
    assert len(needles) == 84
    assert sum(traces(path, needles) for path in postgres_files()) >= len(needles)  # all there before
    request_id, job_id = approved_erasure(world)

    assert run_now(job_id) == JobState.SUCCEEDED
    db.session.commit()
    db.session.remove()

    found = {path.name: traces(path, needles) for path in postgres_files()}
    assert sum(found.values()) == 0, {name: n for name, n in found.items() if n}
    request = db.session.get(DataRequest, request_id)
    assert request is not None and certificate_facts(request)["database_files"] == "removed"
    assert db.session.execute(text("SELECT count(*) FROM activity_events")).scalar() == 6  # bob's are all there
    assert db.session.execute(text("SELECT count(*) FROM screenshots")).scalar() == 1


@pytest.mark.parametrize("app", [pytest.param("postgres", marks=pytest.mark.postgres)], indirect=True)
def test_a_partial_erasure_on_postgresql_vacuums_the_persons_tables_and_says_freed(world: World,
                                                                                    app: Flask) -> None:
    """An erasure of some kinds only deletes rows in place: the person's own tables are vacuumed
    (no dead tuple is left), and the certificate says "freed", not "removed" or "overwritten"."""
    from sqlalchemy import text

    from portal.monitoring.partitions import partition_name
    from portal.rights.certificate import certificate_facts
    from portal.rights.models import DataRequest

    db.session.execute(text("CREATE EXTENSION IF NOT EXISTS pgstattuple"))
    db.session.commit()
    fill(world.alice, events=40, shots=3)
    request_id, job_id = approved_erasure(world, categories=["input_events"])
    assert run_now(job_id) == JobState.SUCCEEDED
    table = partition_name("activity_events", world.alice)
    assert db.session.execute(text("SELECT dead_tuple_count FROM pgstattuple(:t)"), {"t": table}).scalar() == 0
    request = db.session.get(DataRequest, request_id)
    assert request is not None and certificate_facts(request)["database_files"] == "freed"
    kinds = set(db.session.execute(text(f'SELECT DISTINCT kind FROM "{table}"')).scalars())
    assert kinds and kinds <= {"app_focus", "site_visit"}  # what was not erased is still there


def test_the_reapply_command_destroys_a_restored_key_and_says_what_it_did(world: World, app: Flask) -> None:
    fill(world.alice, events=3, shots=0)
    wrapped = (file_keystore().directory / f"{world.alice}.key").read_bytes()  # what a key-store backup holds
    request_id, job_id = approved_erasure(world)
    assert run_now(job_id) == JobState.SUCCEEDED
    (file_keystore().directory / f"{world.alice}.key").write_bytes(wrapped)  # restored from that backup
    first = app.test_cli_runner().invoke(args=["keys", "reapply-erasures"])
    assert first.exit_code == 0, first.output
    assert "1 had come back and were destroyed again" in first.output and world.alice in first.output
    assert not keystore().exists(world.alice) and keystore().exists(world.bob)
    again = app.test_cli_runner().invoke(args=["keys", "reapply-erasures"])
    assert again.exit_code == 0 and "0 had come back" in again.output
