"""Signed tree heads: Ed25519 over the Merkle root at a size, the key (from settings, or generated
once and kept sealed by the master key), the public key at a well-known URL, and `audit verify`
naming a head that no longer matches the log."""

from __future__ import annotations

import base64
import hashlib
import json
import stat
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select, text

from portal import create_app
from portal.audit import heads, tree
from portal.audit import services as audit
from portal.audit.heads import HeadError, load_signing_key, make_head, make_head_if_due, verify_head
from portal.audit.merkle import root as merkle_root
from portal.audit.models import AuditEntry, TreeHead
from portal.audit.services import Actor
from portal.audit.verify import verify_log
from portal.config import ConfigError, Settings, new_key
from portal.extensions import db
from tests.conftest import app_config, both_databases
from tests.helpers import drop_audit_triggers

ENTRIES = 12


def add_entries(n: int, start: int = 0) -> None:
    for i in range(start, start + n):
        audit.record("test:entry:add", actor=Actor("staff", f"{i % 3:032x}"), targets={"case": i}, details={"i": i})
    db.session.commit()


def leaves() -> list[bytes]:
    return list(db.session.scalars(select(AuditEntry.leaf_hash).order_by(AuditEntry.seq)))


def served_key(client: FlaskClient) -> Ed25519PublicKey:
    document = client.get("/.well-known/audit-log-key").get_json()
    return Ed25519PublicKey.from_public_bytes(base64.b64decode(document["public_key"]))


def signed_bytes(size: int, root: bytes, signed_at: datetime, key_id: str) -> bytes:
    """Built here from the documented format, independently of heads.head_bytes."""
    return f"portal-audit-tree-head/1\n{size}\n{root.hex()}\n{signed_at:%Y-%m-%dT%H:%M:%SZ}\n{key_id}".encode()


def copy(head: TreeHead, **changes: object) -> TreeHead:
    fields = {name: getattr(head, name) for name in ("id", "tree_size", "root_hash", "signed_at", "key_id", "signature")}
    return TreeHead(**(fields | changes))  # transient: never added to the session


def sql(statement: str, **params: object) -> None:
    """A change by hand, as a database administrator would make it (the append-only triggers off)."""
    drop_audit_triggers()
    db.session.execute(text(statement), params)
    db.session.commit()


# -- signing and verifying ---------------------------------------------------------------------------

@both_databases
def test_a_head_signs_the_root_and_verifies_with_the_served_public_key(app: Flask, client: FlaskClient,
                                                                        ctx: None) -> None:
    add_entries(ENTRIES)
    before = db.session.scalar(select(func.count()).select_from(AuditEntry))
    head = make_head()
    db.session.commit()
    assert db.session.scalar(select(func.count()).select_from(AuditEntry)) == before  # heads audit nothing
    assert head.tree_size == ENTRIES
    assert head.root_hash == merkle_root(leaves())
    assert head.signed_at.tzinfo is not None and head.signed_at.microsecond == 0
    assert len(head.signature) == 64

    public = served_key(client)
    raw = base64.b64decode(client.get("/.well-known/audit-log-key").get_json()["public_key"])
    assert head.key_id == hashlib.sha256(raw).hexdigest()[:16]
    # Checked with cryptography directly over independently built bytes: raises if it does not hold.
    public.verify(head.signature, signed_bytes(ENTRIES, head.root_hash, head.signed_at, head.key_id))
    stored = db.session.get(TreeHead, head.id)
    assert stored is not None and verify_head(stored, public)


def test_a_forged_or_altered_head_fails(app: Flask, client: FlaskClient, ctx: None) -> None:
    add_entries(ENTRIES)
    head = make_head()
    db.session.commit()
    public = served_key(client)
    assert verify_head(head, public)
    flipped = bytes([head.signature[0] ^ 1]) + head.signature[1:]
    other = Ed25519PrivateKey.generate()
    for forged in (
        copy(head, signature=flipped),
        copy(head, signature=b"\x00" * 64),
        copy(head, signature=head.signature[:63]),
        copy(head, tree_size=head.tree_size - 1),
        copy(head, tree_size=head.tree_size + 1),
        copy(head, root_hash=merkle_root(leaves()[:-1])),
        copy(head, root_hash=bytes([head.root_hash[0] ^ 1]) + head.root_hash[1:]),
        copy(head, signed_at=head.signed_at + timedelta(seconds=1)),
        copy(head, key_id="0" * 16),
    ):
        assert not verify_head(forged, public)
    # Signed by another key: fails under the portal's key, whatever key id it claims.
    bytes_ = signed_bytes(head.tree_size, head.root_hash, head.signed_at, head.key_id)
    assert not verify_head(copy(head, signature=other.sign(bytes_)), public)
    assert not verify_head(head, other.public_key())


def test_an_empty_log_gets_a_head_of_the_empty_root(app: Flask, client: FlaskClient, ctx: None) -> None:
    sql("DELETE FROM audit_entries")
    head = make_head()
    assert head.tree_size == 0 and head.root_hash == hashlib.sha256(b"").digest()
    assert verify_head(head, served_key(client))


# -- audit verify with heads --------------------------------------------------------------------------

def test_verify_checks_every_head_and_passes_an_untouched_log(app: Flask, ctx: None) -> None:
    add_entries(5)
    make_head()
    add_entries(ENTRIES - 5, start=5)
    make_head()
    db.session.commit()
    result = verify_log(batch=4)
    assert result.ok and result.heads == 2 and result.bad_heads == [], result.problems
    output = app.test_cli_runner().invoke(args=["audit", "verify"])
    assert output.exit_code == 0, output.output
    assert output.output.strip() == (f"OK: {ENTRIES} entries, root {merkle_root(leaves()).hex()}; 2 signed tree heads match; "
                                     "the witness file agrees (2 checkpoints)")


def test_an_entry_edited_after_a_head_is_named_and_so_is_the_head(app: Flask, ctx: None) -> None:
    add_entries(5)
    early = make_head()  # covers seq 1..5 only: still matches
    add_entries(ENTRIES - 5, start=5)
    late = make_head()
    db.session.commit()
    early_id, late_id = early.id, late.id
    entry_id = db.session.scalar(select(AuditEntry.entry_id).where(AuditEntry.seq == 9))
    sql("UPDATE audit_entries SET details = :value WHERE seq = 9", value=json.dumps({"i": 99}))

    result = verify_log()
    assert not result.ok and result.first_bad_seq == 9
    assert result.first_bad == f"seq 9 (entry_id {entry_id}): leaf hash does not match its content"
    assert result.bad_heads == [late_id] and early_id not in result.bad_heads
    assert len(result.head_problems) == 1
    assert result.head_problems[0].startswith(f"tree head {late_id} (size {ENTRIES}, signed ")
    assert "no longer matches the log" in result.head_problems[0]

    output = app.test_cli_runner().invoke(args=["audit", "verify"])
    assert output.exit_code == 1
    assert f"FAILED: seq 9 (entry_id {entry_id}): leaf hash does not match its content" in output.output
    assert f"tree head {late_id} (size {ENTRIES}" in output.output and "no longer matches the log" in output.output
    assert f"tree head {early_id} " not in output.output


def test_a_rewrite_with_recomputed_leaf_hashes_is_caught_by_the_head(app: Flask, ctx: None) -> None:
    """Whoever edits a row and recomputes its leaf hash passes the entry checks; the head does not."""
    add_entries(ENTRIES)
    head = make_head()
    db.session.commit()
    head_id = head.id
    entry = db.session.scalar(select(AuditEntry).where(AuditEntry.seq == 4))
    assert entry is not None
    forged = AuditEntry(**{c.name: getattr(entry, c.name) for c in AuditEntry.__table__.c} | {"details": {"i": 99}})
    new_leaf = hashlib.sha256(b"\x00" + audit.entry_canonical(forged)).digest()
    db.session.expunge_all()
    sql("UPDATE audit_entries SET details = :details, leaf_hash = :leaf WHERE seq = 4",
        details=json.dumps({"i": 99}), leaf=new_leaf)
    result = verify_log()
    assert not result.ok and result.first_bad_seq is None  # every entry matches its own hash
    assert result.bad_heads == [head_id] and "no longer matches the log" in result.head_problems[0]
    with pytest.raises(HeadError, match=f"tree head {head_id} "):
        make_head()  # and the rewritten log is not signed over


def test_a_tampered_log_gets_no_new_head(app: Flask, ctx: None) -> None:
    add_entries(ENTRIES)
    sql("UPDATE audit_entries SET tag = 'test:entry:remove' WHERE seq = 3")
    with pytest.raises(HeadError, match="does not verify"):
        make_head()
    db.session.rollback()
    output = app.test_cli_runner().invoke(args=["audit", "head"])
    assert output.exit_code == 1 and "does not verify" in output.output
    assert db.session.scalar(select(func.count()).select_from(TreeHead)) == 0


def test_an_edited_head_and_a_head_beyond_the_log_are_named(app: Flask, ctx: None) -> None:
    add_entries(ENTRIES)
    head = make_head()
    db.session.commit()
    head_id = head.id
    sql("UPDATE tree_heads SET signature = :value WHERE id = :id", value=b"\x01" * 64, id=head_id)
    result = verify_log()
    assert not result.ok and result.first_bad_seq is None and result.bad_heads == [head_id]
    assert result.head_problems == [f"tree head {head_id} (size {ENTRIES}, signed "
                                    f"{head.signed_at:%Y-%m-%dT%H:%M:%S.%fZ}): its signature is not valid"]

    sql(f"DELETE FROM audit_entries WHERE seq > {ENTRIES - 2}")  # the last two rows cut off
    result = verify_log()
    assert not result.ok
    assert any(f"covers {ENTRIES} entries, but the log now holds only {ENTRIES - 2}" in p for p in result.head_problems)
    assert any(p.startswith("the log is shorter than the witness") for p in result.witness_problems)


def test_a_head_by_an_unknown_key_is_named(app: Flask, ctx: None) -> None:
    add_entries(3)
    other = Ed25519PrivateKey.generate()
    root = merkle_root(leaves())
    moment = datetime(2026, 3, 1, tzinfo=UTC)
    db.session.add(TreeHead(tree_size=3, root_hash=root, signed_at=moment, key_id="ab" * 8,
                            signature=other.sign(signed_bytes(3, root, moment, "ab" * 8))))
    db.session.commit()
    missing = verify_log()  # verifying never creates a key
    assert not missing.ok and "the audit signing key is missing" in missing.head_problems[0]
    assert not (Path(app.config["PORTAL_SETTINGS"].key_dir) / "audit-signing.key").exists()
    heads.signing_key()  # the portal's own key exists
    result = verify_log()
    assert not result.ok and len(result.bad_heads) == 1
    assert "signed by key abababababababab, not by the audit signing key" in result.head_problems[0]
    with pytest.raises(HeadError, match="not by the audit signing key"):
        make_head()


# -- the command and the periodic head -----------------------------------------------------------------

def test_the_head_command_makes_and_prints_a_head(app: Flask, client: FlaskClient, ctx: None) -> None:
    add_entries(ENTRIES)
    output = app.test_cli_runner().invoke(args=["audit", "head"])
    assert output.exit_code == 0, output.output
    db.session.remove()
    head = db.session.scalar(select(TreeHead))
    assert head is not None and head.tree_size == ENTRIES
    lines = dict(line.split(":", 1) for line in output.output.splitlines() if ":" in line)
    assert lines["size"].strip() == str(ENTRIES)
    assert lines["root"].strip() == head.root_hash.hex() == merkle_root(leaves()).hex()
    assert base64.b64decode(lines["signature"].strip()) == head.signature
    assert lines["key id"].strip() == head.key_id
    assert verify_head(head, served_key(client))


def test_a_periodic_head_only_when_the_log_grew_and_the_last_is_old_enough(
        app: Flask, ctx: None, monkeypatch: pytest.MonkeyPatch) -> None:
    sql("DELETE FROM audit_entries")
    assert make_head_if_due() is None  # nothing to sign yet
    add_entries(3)
    first = make_head_if_due()
    assert first is not None and first.tree_size == 3
    db.session.commit()
    later = first.signed_at + heads.HEAD_INTERVAL
    assert make_head_if_due(now=later) is None  # the log did not grow
    add_entries(2, start=3)
    assert make_head_if_due(now=first.signed_at + timedelta(seconds=5)) is None  # too soon
    second = make_head_if_due(now=later)
    assert second is not None and second.tree_size == 5
    db.session.commit()
    add_entries(1, start=5)
    from portal.jobs.runners import PERIODIC, run_periodic

    assert heads.sign_tree_head in PERIODIC
    monkeypatch.setattr(heads, "HEAD_INTERVAL", timedelta(0))
    run_periodic()  # the job runner's sweep
    db.session.remove()
    assert list(db.session.scalars(select(TreeHead.tree_size).order_by(TreeHead.id))) == [3, 5, 6]


def test_the_periodic_head_checks_the_whole_log_first_and_every_ten_minutes(app: Flask, ctx: None) -> None:
    """Heads every minute read only what is new; the first in a process, and one every ten minutes,
    recompute the whole log first and refuse a log edited under an earlier head."""
    add_entries(4)
    start = datetime.now(UTC)
    first = make_head_if_due(now=start)  # the first in this process: full
    assert first is not None
    db.session.commit()
    sql("UPDATE audit_entries SET details = :d WHERE seq = 2", d=json.dumps({"i": 99}))
    add_entries(1, start=4)
    quick = make_head_if_due(now=start + heads.HEAD_INTERVAL + timedelta(seconds=1))  # from the latest head: the edited row is not read again
    assert quick is not None and quick.tree_size == 5
    db.session.commit()
    add_entries(1, start=5)
    with pytest.raises(HeadError, match="seq 2 .*leaf hash does not match its content"):
        make_head_if_due(now=start + heads.FULL_CHECK_INTERVAL)
    db.session.rollback()
    assert db.session.scalar(select(func.count()).select_from(TreeHead)) == 2


# -- the key -------------------------------------------------------------------------------------------

def twin(app: Flask, tmp_path: Path, idp_url: str, **changes: object) -> Flask:
    """Another app on the same key directory and master key (and a database of its own)."""
    settings = app.config["PORTAL_SETTINGS"]
    other = tmp_path / "twin"
    other.mkdir(exist_ok=True)
    config = app_config(other, idp_url, f"sqlite:///{other / 'portal.db'}", master_key=settings.master_key,
                        key_dir=settings.key_dir)
    return create_app(config | changes)


def test_the_key_is_generated_once_sealed_and_reused(app: Flask, client: FlaskClient, tmp_path: Path,
                                                     idp_url: str) -> None:
    settings = app.config["PORTAL_SETTINGS"]
    path = Path(settings.key_dir) / "audit-signing.key"
    assert not path.exists()
    first = client.get("/.well-known/audit-log-key").get_json()
    assert path.exists() and stat.S_IMODE(path.stat().st_mode) == 0o600
    content = path.read_bytes()
    second_app = twin(app, tmp_path, idp_url)
    assert second_app.test_client().get("/.well-known/audit-log-key").get_json() == first
    assert path.read_bytes() == content  # reused, not replaced
    with app.app_context():
        private = load_signing_key(settings)
    assert private is not None
    seed = private.private_bytes_raw()
    assert seed not in content and base64.urlsafe_b64encode(seed).rstrip(b"=") not in content  # stored sealed
    # Under another master key the file does not open, and nothing quietly replaces it.
    stranger = twin(app, tmp_path, idp_url, master_key=new_key())
    with stranger.app_context(), pytest.raises(HeadError, match="does not open with this master key"):
        heads.signing_key()
    assert path.read_bytes() == content


def test_processes_racing_to_create_the_key_end_with_one(app: Flask) -> None:
    settings = app.config["PORTAL_SETTINGS"]
    barrier = threading.Barrier(8)
    found: list[bytes] = []

    def create() -> None:
        barrier.wait()
        key = load_signing_key(settings)
        assert key is not None
        found.append(key.private_bytes_raw())

    threads = [threading.Thread(target=create) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert len(found) == 8 and len(set(found)) == 1
    assert [p.name for p in Path(settings.key_dir).iterdir() if "audit-signing" in p.name] == ["audit-signing.key"]


def test_the_configured_signing_key_is_used(app: Flask, tmp_path: Path, idp_url: str) -> None:
    seed = Ed25519PrivateKey.generate().private_bytes_raw()
    configured = twin(app, tmp_path, idp_url, audit_signing_key=base64.urlsafe_b64encode(seed).decode().rstrip("="))
    expected = Ed25519PrivateKey.from_private_bytes(seed).public_key()
    document = configured.test_client().get("/.well-known/audit-log-key").get_json()
    assert base64.b64decode(document["public_key"]) == heads.raw_public_key(expected)
    with configured.app_context():
        from flask_migrate import upgrade

        upgrade()
        add_entries(3)
        head = make_head()
        assert verify_head(head, expected)
    assert not (Path(app.config["PORTAL_SETTINGS"].key_dir) / "audit-signing.key").exists()


def test_the_signing_key_setting_is_read_from_the_environment_and_checked(tmp_path: Path) -> None:
    seed = new_key()
    assert Settings.from_env({"PORTAL_AUDIT_SIGNING_KEY": seed}).audit_signing_key == seed
    settings = Settings.from_env({})
    assert settings.audit_signing_key == ""
    settings.apply_overrides(app_config(tmp_path, "http://127.0.0.1:9400", "sqlite://",
                                        audit_signing_key="not-a-key"))
    with pytest.raises(ConfigError, match="PORTAL_AUDIT_SIGNING_KEY"):
        settings.validate()
    assert seed not in repr(Settings.from_env({"PORTAL_AUDIT_SIGNING_KEY": seed}))


# -- the public key, served and printed -------------------------------------------------------------------

def test_the_well_known_key_answers_without_sign_in(app: Flask, client: FlaskClient) -> None:
    response = client.get("/.well-known/audit-log-key")
    assert response.status_code == 200 and response.mimetype == "application/json"
    document = response.get_json()
    assert set(document) == {"algorithm", "public_key", "key_id"}
    assert document["algorithm"] == "Ed25519"
    raw = base64.b64decode(document["public_key"], validate=True)
    assert len(raw) == 32
    assert document["key_id"] == hashlib.sha256(raw).hexdigest()[:16]
    assert "public" in response.headers["Cache-Control"] and "max-age=3600" in response.headers["Cache-Control"]
    assert "no-store" not in response.headers["Cache-Control"]
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert "Set-Cookie" not in response.headers
    assert client.get("/").headers["Cache-Control"] == "no-store"  # every other page stays uncached

    printed = app.test_cli_runner().invoke(args=["audit", "public-key"])
    assert printed.exit_code == 0, printed.output
    assert json.loads(printed.output) == document


# -- heads for evidence packs: from the latest head on --------------------------------------------------

def full_root() -> bytes:
    return merkle_root([bytes(h) for h in leaves()])


@pytest.mark.parametrize("app", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)], indirect=True)
def test_a_head_from_the_latest_one_signs_what_a_full_head_would(app: Flask, ctx: None) -> None:
    assert make_head(full=False).tree_size == 0  # the first head is made in full: here, of the empty log
    db.session.commit()
    for step in (5, 1, 8, 3):
        add_entries(step, start=tree.log_size())
        head = make_head(full=False)
        db.session.commit()
        assert head.tree_size == tree.log_size() and bytes(head.root_hash) == full_root()
    assert make_head(full=False).tree_size == 17  # nothing new: the same root again
    result = verify_log()
    assert result.ok and result.heads == 6, result.problems


def test_a_head_from_the_latest_one_checks_every_new_entry(app: Flask, ctx: None) -> None:
    add_entries(4)
    make_head()
    db.session.commit()
    add_entries(3, start=4)
    sql("UPDATE audit_entries SET tag = 'test:entry:remove' WHERE seq = 6")
    with pytest.raises(HeadError, match="seq 6: leaf hash does not match its content"):
        make_head(full=False)
    db.session.rollback()
    sql("DELETE FROM audit_entries WHERE seq = 6")
    with pytest.raises(HeadError, match="seq 6 is missing"):
        make_head(full=False)
    db.session.rollback()
    assert db.session.scalar(select(func.count()).select_from(TreeHead)) == 1


def test_a_head_from_the_latest_one_refuses_a_stored_tree_or_head_that_no_longer_matches(app: Flask, ctx: None) -> None:
    add_entries(8)
    head = make_head()
    db.session.commit()
    head_id = head.id
    add_entries(2, start=8)
    sql("UPDATE audit_tree_nodes SET hash = :h WHERE level = 3 AND idx = 0", h=b"\x07" * 32)  # the whole of 1..8
    with pytest.raises(HeadError, match=f"the stored audit tree no longer matches tree head {head_id} "):
        make_head(full=False)
    db.session.rollback()
    sql("UPDATE tree_heads SET signature = :s WHERE id = :id", s=b"\x01" * 64, id=head_id)
    with pytest.raises(HeadError, match=f"tree head {head_id} .* is not validly signed"):
        make_head(full=False)
    db.session.rollback()
    assert db.session.scalar(select(func.count()).select_from(TreeHead)) == 1


def test_what_the_latest_head_covers_is_not_read_again_but_stays_committed(app: Flask, ctx: None) -> None:
    """An old row edited after its head (content only) is not re-read by a head made from the
    latest one: the new root still commits to what was signed, so the edit breaks any proof over
    that row, and the full check (audit verify, the periodic head's full check) names it."""
    add_entries(6)
    signed = make_head()
    db.session.commit()
    original = full_root()
    sql("UPDATE audit_entries SET details = :d WHERE seq = 2", d=json.dumps({"i": 99}))
    add_entries(2, start=6)
    head = make_head(full=False)
    db.session.commit()
    assert bytes(signed.root_hash) == original
    assert bytes(head.root_hash) == merkle_root([bytes(h) for h in leaves()])  # the stored leaves: as signed
    assert tree.root_at(6) == original
    result = verify_log()
    assert not result.ok and result.first_bad_seq == 2
    with pytest.raises(HeadError, match="does not verify"):
        make_head()


def test_a_head_from_the_latest_one_refuses_a_log_shorter_than_that_head(app: Flask, ctx: None) -> None:
    add_entries(5)
    head = make_head()
    db.session.commit()
    head_id = head.id
    sql("DELETE FROM audit_entries WHERE seq > 3")
    with pytest.raises(HeadError, match=f"tree head {head_id} \\(size 5\\) covers more entries than the log now holds \\(3\\)"):
        make_head(full=False)
    db.session.rollback()
    assert db.session.scalar(select(func.count()).select_from(TreeHead)) == 1
