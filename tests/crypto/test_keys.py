"""Sealing, the key store and crypto-shredding, through the real files and databases."""

from __future__ import annotations

import secrets
import shutil
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import select, text

from portal.crypto import KeyDestroyed, KeyStore, SubjectCipher, blind_index, directory_cipher, keystore
from portal.crypto.keys import TOMBSTONE_PREFIX, SealError
from portal.db import new_id
from portal.extensions import db
from portal.monitoring import services as monitoring
from portal.monitoring.ingest import ingest_batch
from portal.monitoring.models import ActivityEvent, Screenshot
from portal.people import services as people
from portal.people.models import Employee
from tests.conftest import both_databases
from tests.helpers import event, make_employee
from tests.monitoring.support import png, shot

SUBJECT = "0123456789abcdef0123456789abcdef"
OTHER_SUBJECT = "fedcba9876543210fedcba9876543210"


@pytest.fixture
def key() -> bytes:
    return secrets.token_bytes(32)


@pytest.fixture
def cipher(key: bytes) -> SubjectCipher:
    return SubjectCipher(SUBJECT, key)


# --- SubjectCipher -------------------------------------------------------------------------------

@pytest.mark.parametrize("data", [b"", b"\x00\xff binary \x01", "naïve ünïcode".encode(), secrets.token_bytes(4096)])
def test_bytes_round_trip(cipher: SubjectCipher, data: bytes) -> None:
    sealed = cipher.seal_bytes("screenshot", "rec-1", data)
    assert cipher.open_bytes("screenshot", "rec-1", sealed) == data
    if data:
        assert data not in sealed


def test_json_round_trip_and_fresh_nonce(cipher: SubjectCipher) -> None:
    value = {"url": "https://example.com/ä?q=1", "title": "Tïtle", "x": -3, "y": 7, "payload": {"keys": [1, 2]}}
    first = cipher.seal_json("event", "ev-1", value)
    second = cipher.seal_json("event", "ev-1", value)
    assert first != second, "each seal uses a fresh nonce"
    assert cipher.open_json("event", "ev-1", first) == value == cipher.open_json("event", "ev-1", second)
    assert b"example.com" not in first


@pytest.mark.parametrize(("kind", "record_id", "subject"), [
    ("event", "ev-2", SUBJECT),          # moved to another record
    ("screenshot", "ev-1", SUBJECT),     # read as another kind of record
    ("event", "ev-1", OTHER_SUBJECT),    # moved to another subject (even one with the same key)
], ids=["other-record", "other-kind", "other-subject"])
def test_ciphertext_is_bound_to_its_record(key: bytes, kind: str, record_id: str, subject: str) -> None:
    sealed = SubjectCipher(SUBJECT, key).seal_bytes("event", "ev-1", b"secret")
    assert SubjectCipher(SUBJECT, key).open_bytes("event", "ev-1", sealed) == b"secret"
    with pytest.raises(SealError):
        SubjectCipher(subject, key).open_bytes(kind, record_id, sealed)


def test_other_subject_key_does_not_open(cipher: SubjectCipher) -> None:
    sealed = cipher.seal_bytes("event", "ev-1", b"secret")
    with pytest.raises(SealError):
        SubjectCipher(SUBJECT, secrets.token_bytes(32)).open_bytes("event", "ev-1", sealed)


@pytest.mark.parametrize("position", [0, 1, 12, 13, 20, -17, -1], ids=lambda p: f"byte{p}")
def test_tampering_one_byte_fails(cipher: SubjectCipher, position: int) -> None:
    sealed = bytearray(cipher.seal_bytes("event", "ev-1", b"a sealed value of some length"))
    sealed[position] ^= 0x01
    with pytest.raises(SealError):
        cipher.open_bytes("event", "ev-1", bytes(sealed))


@pytest.mark.parametrize("blob", [b"", b"\x01", b"\x01" + b"\x00" * 27, b"plain text that was never sealed"])
def test_garbage_is_refused(cipher: SubjectCipher, blob: bytes) -> None:
    with pytest.raises(SealError):
        cipher.open_bytes("event", "ev-1", blob)


def test_truncated_ciphertext_fails(cipher: SubjectCipher) -> None:
    sealed = cipher.seal_bytes("event", "ev-1", b"a sealed value")
    with pytest.raises(SealError):
        cipher.open_bytes("event", "ev-1", sealed[:-1])


# --- KeyStore --------------------------------------------------------------------------------------

def test_create_is_idempotent_and_stores_the_key_wrapped(tmp_path: Path) -> None:
    master = secrets.token_bytes(32)
    store = KeyStore(tmp_path / "keys", master)
    store.create(SUBJECT)
    path = tmp_path / "keys" / f"{SUBJECT}.key"
    wrapped = path.read_bytes()
    key = store.data_key(SUBJECT)

    store.create(SUBJECT)
    KeyStore(tmp_path / "keys", master).create(SUBJECT)
    assert path.read_bytes() == wrapped, "creating an existing key must not replace it"
    assert KeyStore(tmp_path / "keys", master).data_key(SUBJECT) == key
    assert sorted(p.name for p in (tmp_path / "keys").iterdir()) == [f"{SUBJECT}.key"], "no temporary files left"
    assert path.stat().st_mode & 0o077 == 0, "the key file is private to the portal's user"

    assert len(key) == 32
    assert wrapped != key and key not in wrapped
    with pytest.raises(SealError):
        KeyStore(tmp_path / "keys", secrets.token_bytes(32)).data_key(SUBJECT)


def test_each_subject_has_its_own_key_bound_to_it(tmp_path: Path) -> None:
    store = KeyStore(tmp_path, secrets.token_bytes(32))
    store.create(SUBJECT)
    store.create(OTHER_SUBJECT)
    assert store.data_key(SUBJECT) != store.data_key(OTHER_SUBJECT)
    # A wrapped key copied over another subject's file does not open as that subject's key.
    shutil.copyfile(tmp_path / f"{SUBJECT}.key", tmp_path / f"{OTHER_SUBJECT}.key")
    with pytest.raises(SealError):
        store.data_key(OTHER_SUBJECT)


@pytest.mark.parametrize("subject_id", ["../escape", "0123456789ABCDEF0123456789ABCDEF", "abc", "", SUBJECT + "/x"])
def test_malformed_subject_ids_are_refused(tmp_path: Path, subject_id: str) -> None:
    store = KeyStore(tmp_path / "keys", secrets.token_bytes(32))
    for call in (store.create, store.data_key, store.destroy, store.exists):
        with pytest.raises(ValueError, match="malformed subject id"):
            call(subject_id)
    assert list((tmp_path / "keys").iterdir()) == []


def test_destroy_removes_the_key(tmp_path: Path) -> None:
    store = KeyStore(tmp_path, secrets.token_bytes(32))
    store.create(SUBJECT)
    store.create(OTHER_SUBJECT)
    key_id = store.key_id(SUBJECT)
    assert key_id is not None and store.destroy(SUBJECT) == key_id
    assert not (tmp_path / f"{SUBJECT}.key").exists() and not store.exists(SUBJECT)
    with pytest.raises(KeyDestroyed):
        store.data_key(SUBJECT)
    with pytest.raises(KeyDestroyed):
        store.cipher(SUBJECT)
    assert store.destroy(SUBJECT) is None
    assert len(store.data_key(OTHER_SUBJECT)) == 32, "other subjects keep their keys"
    assert [p.name for p in tmp_path.iterdir()] == [f"{OTHER_SUBJECT}.key"]


def test_unknown_subject_has_no_key(tmp_path: Path) -> None:
    with pytest.raises(KeyDestroyed):
        KeyStore(tmp_path, secrets.token_bytes(32)).data_key(SUBJECT)


# --- crypto-shredding through the portal -------------------------------------------------------

def _ingest_for(subject_id: str, n: int) -> None:
    ingest_batch(subject_id, [event(n, x=10, y=20), event(n + 1, kind="click", x=1, y=2)],
                 [shot(n, png(f"screen of {subject_id[:6]}"))])


@both_databases
def test_destroyed_key_makes_events_and_screenshots_unreadable(app: Flask) -> None:
    gone = make_employee(app, "gone@example.com")
    kept = make_employee(app, "kept@example.com")
    with app.app_context():
        _ingest_for(gone, 1)
        _ingest_for(kept, 1)
        db.session.commit()

        def items(subject_id: str) -> tuple[list[ActivityEvent], list[Screenshot]]:
            return (list(db.session.scalars(select(ActivityEvent).where(ActivityEvent.subject_id == subject_id))),
                    list(db.session.scalars(select(Screenshot).where(Screenshot.subject_id == subject_id))))

        events, shots = items(gone)
        assert len(events) == 2 and len(shots) == 1
        assert monitoring.open_event(events[0])["url"].startswith("https://github.com/")
        assert monitoring.open_screenshot(shots[0]).startswith(b"\x89PNG")

        assert keystore().destroy(gone) is not None
        with pytest.raises(KeyDestroyed):
            keystore().data_key(gone)
        for item in events:
            with pytest.raises(KeyDestroyed):
                monitoring.open_event(item)
        with pytest.raises(KeyDestroyed):
            monitoring.open_screenshot(shots[0])

        kept_events, kept_shots = items(kept)
        assert {monitoring.open_event(e)["x"] for e in kept_events} == {10, 1}
        assert monitoring.open_screenshot(kept_shots[0]).startswith(b"\x89PNG")


def test_database_copy_taken_before_destroy_is_undecryptable_after(app: Flask, tmp_path: Path) -> None:
    subject = make_employee(app, "backup@example.com")
    settings = app.config["PORTAL_SETTINGS"]
    with app.app_context():
        _ingest_for(subject, 1)
        db.session.commit()
        with db.engine.connect() as conn:
            conn.execute(text("PRAGMA wal_checkpoint(TRUNCATE)"))
        source = Path(db.engine.url.database)  # type: ignore[arg-type]
        backup = tmp_path / "backup.db"
        shutil.copyfile(source, backup)

        with sqlite3.connect(backup) as copy:
            source_event_id, sealed = copy.execute(
                "SELECT source_event_id, sealed FROM activity_events WHERE subject_id = ? ORDER BY id LIMIT 1",
                (subject,),
            ).fetchone()
        copy.close()
        # The copy opens before the key is destroyed (so the refusal below is due to the key) ...
        fresh = KeyStore(settings.key_dir, settings.master_key_bytes)
        assert fresh.cipher(subject).open_json("event", source_event_id, sealed)["x"] == 10

        keystore().destroy(subject)

    # ... and no longer afterwards, with a key store built from scratch over the same key dir.
    with pytest.raises(KeyDestroyed):
        KeyStore(settings.key_dir, settings.master_key_bytes).cipher(subject).open_json("event", source_event_id, sealed)


# --- the directory cipher and blind indexes ----------------------------------------------------

def test_directory_fields_are_sealed_in_the_database(app: Flask) -> None:
    employee_id = make_employee(app, "Dora.Directory@Example.com", name="Dora Directoria", employee_number="EMP-4411")
    with app.app_context():
        raw = db.session.execute(text("SELECT * FROM employees WHERE id = :id"), {"id": employee_id}).mappings().one()
        stored = b"|".join(v if isinstance(v, bytes) else str(v).encode() for v in raw.values()).lower()
        for clear in ("dora.directory@example.com", "dora directoria", "emp-4411"):
            assert clear.encode() not in stored

        employee = db.session.get(Employee, employee_id)
        assert employee is not None
        assert (employee.email, employee.display_name, employee.employee_number) == (
            "Dora.Directory@Example.com", "Dora Directoria", "EMP-4411")
        # Sealed fields are bound to their row and field.
        with pytest.raises(SealError):
            directory_cipher().open_text(employee_id, "name", employee.email_sealed)
        with pytest.raises(SealError):
            directory_cipher().open_text(new_id(), "email", employee.email_sealed)


def test_blind_index_is_stable_and_folds_case_for_email(app: Flask) -> None:
    employee_id = make_employee(app, "Case.Folding@Example.com", employee_number="Emp-77")
    with app.app_context():
        index = blind_index("email", "case.folding@example.com")
        assert index == blind_index("email", "CASE.FOLDING@EXAMPLE.COM") == blind_index("email", " Case.Folding@example.com ")
        assert len(index) == 64 and "case" not in index
        assert blind_index("email", "other@example.com") != index
        assert blind_index("employee-number", "case.folding@example.com") != index, "the kind is part of the index"
        assert blind_index("employee-number", "Emp-77", fold_case=False) != blind_index(
            "employee-number", "EMP-77", fold_case=False)

        stored = db.session.scalar(select(Employee.email_index).where(Employee.id == employee_id))
        assert stored == index
        found = people.find_by_email("CASE.folding@example.COM")
        assert found is not None and found.id == employee_id
        assert people.find_by_employee_number("Emp-77") is not None
        assert people.find_by_employee_number("EMP-77") is None

    with app.app_context():
        assert blind_index("email", "case.folding@example.com") == index, "stable across app contexts"


def test_blind_index_depends_on_the_master_key(app: Flask, tmp_path: Path) -> None:
    from portal import create_app
    from portal.config import new_key

    settings = app.config["PORTAL_SETTINGS"]
    other = create_app({"master_key": new_key(), "secret_key": new_key(), "database_url": settings.database_url,
                        "oidc_issuer": settings.oidc_issuer, "oidc_client_id": "x", "oidc_client_secret": "x",
                        "instance_dir": tmp_path / "other", "artifact_dir": tmp_path / "other" / "artifacts",
                        "key_dir": settings.key_dir.parent / "other-keys", "session_dir": tmp_path / "other" / "sessions"})
    with app.app_context():
        ours = blind_index("email", "someone@example.com")
    with other.app_context():
        assert blind_index("email", "someone@example.com") != ours


def test_shred_subject_destroys_the_key_and_is_audited(app: Flask, ctx: None) -> None:
    from sqlalchemy import select

    from portal.audit.models import AuditEntry
    from portal.audit.services import Actor
    from portal.crypto import KeyDestroyed, keystore
    from portal.crypto.services import shred_subject
    from portal.extensions import db
    from portal.monitoring import services as monitoring
    from portal.monitoring.ingest import ingest_batch
    from portal.monitoring.models import ActivityEvent
    from tests.helpers import event, make_employee

    subject = make_employee(app, "shred@example.com")
    ingest_batch(subject, [event(1, url="https://example.com/secret")])
    db.session.commit()
    stored = db.session.scalar(select(ActivityEvent))
    assert stored is not None and monitoring.open_event(stored)["url"] == "https://example.com/secret"
    key_id = keystore().key_id(subject)
    assert shred_subject(subject, actor=Actor.system(), reason="erasure") is True
    assert shred_subject(subject, actor=Actor.system(), reason="erasure") is False
    db.session.commit()
    with pytest.raises(KeyDestroyed):
        monitoring.open_event(stored)
    with pytest.raises(KeyDestroyed):
        keystore().data_key(subject)
    entries = list(db.session.scalars(select(AuditEntry).where(AuditEntry.tag == "crypto:subject-key:destroy")))
    assert [e.details for e in entries] == [{"reason": "erasure", "destroyed": True, "key_id": key_id},
                                            {"reason": "erasure", "destroyed": False}]
    assert all(e.subject_id == subject for e in entries)


def test_a_destruction_cut_short_leaves_no_key_that_half_exists(tmp_path: Path) -> None:
    """The key is renamed to a tombstone before it is scrubbed: if the scrub cannot happen (here
    the tombstone cannot be opened for writing, as on a failing disk), the key is already gone,
    a new key can be made for the person, and the sweep finishes the scrub later."""
    store = KeyStore(tmp_path, secrets.token_bytes(32))
    store.create(SUBJECT)
    old = store.data_key(SUBJECT)
    real_open = open

    def refuse_write(file: Any, mode: str = "r", *args: Any, **kwargs: Any) -> Any:
        if "+" in mode and TOMBSTONE_PREFIX in str(file):
            raise PermissionError(13, "Permission denied", str(file))
        return real_open(file, mode, *args, **kwargs)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr("builtins.open", refuse_write)
        assert store.destroy(SUBJECT) is not None
    assert not store.exists(SUBJECT)
    with pytest.raises(KeyDestroyed):
        store.data_key(SUBJECT)
    (tombstone,) = tmp_path.glob(f"{TOMBSTONE_PREFIX}*")
    store.create(SUBJECT)  # a new key, not the garbage of the old one
    assert store.data_key(SUBJECT) != old
    assert store.scrub_tombstones() == 1 and not tombstone.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == [f"{SUBJECT}.key"]
