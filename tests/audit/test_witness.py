"""The witness file: every signed tree head also written outside the database as a C2SP checkpoint,
and `audit verify` checking the log against it, so that cutting the log short, deleting its heads,
or rewriting an entry with its leaf hash (the triggers dropped, as a database administrator could)
no longer passes; the periodic head every minute; co-signing by a second party."""

from __future__ import annotations

import base64
import hashlib
import json
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select, text

from portal.audit import heads, witness
from portal.audit import services as audit
from portal.audit.heads import HeadError, make_head, make_head_if_due
from portal.audit.merkle import root as merkle_root
from portal.audit.models import AuditEntry, TreeHead
from portal.audit.services import Actor
from portal.audit.verify import verify_log
from portal.extensions import db
from portal.jobs.runners import run_periodic
from tests.conftest import both_databases
from tests.helpers import drop_audit_triggers

DASH = "\u2014 "


def add_entries(n: int, start: int = 0) -> None:
    for i in range(start, start + n):
        audit.record("test:entry:add", actor=Actor("staff", f"{i % 3:032x}"), targets={"case": i}, details={"i": i})
    db.session.commit()


@dataclass(frozen=True)
class Signed:
    id: int
    tree_size: int
    root_hash: bytes


def signed_head(entries: int, start: int = 0) -> Signed:
    """A head over the log after ``entries`` more entries, committed (the commit publishes it)."""
    add_entries(entries, start)
    head = make_head()
    db.session.commit()
    return Signed(head.id, head.tree_size, bytes(head.root_hash))


def as_dba(statement: str, **params: object) -> None:
    drop_audit_triggers()
    db.session.execute(text(statement), params)
    db.session.commit()


def witness_file(app: Flask) -> Path:
    return Path(app.config["PORTAL_SETTINGS"].audit_witness_dir) / "checkpoints"


def leaves() -> list[bytes]:
    return list(db.session.scalars(select(AuditEntry.leaf_hash).order_by(AuditEntry.seq)))


def served_key(client: FlaskClient) -> Ed25519PublicKey:
    document = client.get("/.well-known/audit-log-key").get_json()
    return Ed25519PublicKey.from_public_bytes(base64.b64decode(document["public_key"]))


def verify_command(app: Flask, *args: str) -> tuple[int, str]:
    result = app.test_cli_runner().invoke(args=["audit", "verify", *args])
    return result.exit_code, result.output


# -- the file ------------------------------------------------------------------------------------------

@both_databases
def test_each_head_is_appended_as_a_c2sp_signed_checkpoint(app: Flask, client: FlaskClient, ctx: None) -> None:
    first = signed_head(5)
    second = signed_head(7, start=5)
    data = witness_file(app).read_bytes()
    public = served_key(client)
    raw = base64.b64decode(client.get("/.well-known/audit-log-key").get_json()["public_key"])
    name = "localhost/audit-log"  # PORTAL_BASE_URL is http://localhost in the tests
    key_id = hashlib.sha256(name.encode() + b"\n\x01" + raw).digest()[:4]
    expected = b""
    for head in (first, second):
        body = f"{name}\n{head.tree_size}\n{base64.b64encode(head.root_hash).decode()}\n".encode()
        records = data.split(b"\n\n")
        assert body.rstrip(b"\n") in records
        line = next(r for r in records if r.startswith(DASH.encode()) and records[records.index(r) - 1] + b"\n" == body)
        signer, encoded = line.decode().removeprefix(DASH).split(" ")
        blob = base64.b64decode(encoded)
        assert signer == name and blob[:4] == key_id and len(blob) == 68
        public.verify(blob[4:], body)  # raises if the signature does not hold
        expected += body + b"\n" + line + b"\n\n"
    assert data == expected  # exactly two records, in order, each ending with a blank line
    assert head_sizes(app) == [5, 12]
    result = verify_log()
    assert result.ok and result.checkpoints == 2 and result.heads == 2, result.problems
    code, output = verify_command(app)
    assert code == 0 and output.strip().endswith("2 signed tree heads match; the witness file agrees (2 checkpoints)")


def head_sizes(app: Flask) -> list[int]:
    records, trouble = witness.read_records(witness_file(app))
    assert trouble is None
    return [r.size for r in records]


def test_a_head_made_again_over_the_same_log_is_written_once(app: Flask, ctx: None) -> None:
    signed_head(4)
    make_head()
    db.session.commit()
    assert head_sizes(app) == [4]
    assert db.session.scalar(select(func.count()).select_from(TreeHead)) == 2
    signed_head(2, start=4)
    # A process that publishes late (its head's commit came before another's) adds nothing twice.
    stored = list(db.session.scalars(select(TreeHead).order_by(TreeHead.id)))
    assert witness.publish(stored) == 0 and witness.publish_pending() == 0
    assert head_sizes(app) == [4, 6]
    assert verify_log().ok


def test_a_head_rolled_back_is_not_published(app: Flask, ctx: None) -> None:
    add_entries(3)
    make_head()
    db.session.rollback()
    db.session.commit()
    assert not witness_file(app).exists()


# -- what the witness catches --------------------------------------------------------------------------

@both_databases
def test_entries_cut_off_with_the_heads_that_covered_them_fail_verify(app: Flask, ctx: None) -> None:
    signed_head(12)
    late = signed_head(4, start=12)
    as_dba("DELETE FROM audit_entries WHERE seq > 12")
    as_dba("DELETE FROM tree_heads WHERE id = :id", id=late.id)
    assert verify_log(witness=False).ok  # what the database alone says: the finding
    result = verify_log()
    assert not result.ok and result.first_bad_seq is None
    root = bytes(late.root_hash).hex()
    assert result.first_bad == (f"the log is shorter than the witness: witness checkpoint 2 (size 16, root {root}) "
                                "covers 16 entries, the log now holds 12 (entries 13..16 gone)")
    code, output = verify_command(app)
    assert code == 1 and f"FAILED: {result.first_bad}" in output
    with pytest.raises(HeadError, match="the log is shorter than the witness"):
        make_head()  # a cut log gets no new head
    db.session.rollback()


@both_databases
def test_deleted_heads_fail_verify_and_are_named(app: Flask, ctx: None) -> None:
    first = signed_head(6)
    second = signed_head(3, start=6)
    as_dba("DELETE FROM tree_heads")
    assert verify_log(witness=False).ok  # the finding: without its heads the log verified
    result = verify_log()
    assert not result.ok
    assert result.witness_problems == [
        f"witness checkpoint 1 (size 6, root {bytes(first.root_hash).hex()}): no tree head in the database has it "
        "(a signed head was removed)",
        f"witness checkpoint 2 (size 9, root {bytes(second.root_hash).hex()}): no tree head in the database has it "
        "(a signed head was removed)"]
    code, output = verify_command(app)
    assert code == 1 and "no tree head in the database has it" in output


@both_databases
def test_an_entry_rewritten_with_its_leaf_hash_and_the_heads_gone_fails(app: Flask, ctx: None) -> None:
    head = signed_head(10)
    entry = db.session.scalar(select(AuditEntry).where(AuditEntry.seq == 4))
    assert entry is not None
    forged = AuditEntry(**{c.name: getattr(entry, c.name) for c in AuditEntry.__table__.c} | {"details": {"i": 99}})
    new_leaf = hashlib.sha256(b"\x00" + audit.entry_canonical(forged)).digest()
    db.session.expunge_all()
    as_dba("UPDATE audit_entries SET details = :details, leaf_hash = :leaf WHERE seq = 4",
           details=json.dumps({"i": 99}), leaf=new_leaf)
    as_dba("DELETE FROM tree_heads")
    assert verify_log(witness=False).ok  # every entry matches its own hash, and no head is left to disagree
    result = verify_log()
    assert not result.ok and result.first_bad_seq is None
    now = merkle_root(leaves()).hex()
    assert result.witness_problems[0] == (f"witness checkpoint 1 (size 10, root {bytes(head.root_hash).hex()}): "
                                          f"the entries 1..10 now give a different root ({now})")
    assert "a signed head was removed" in result.witness_problems[1]


def test_a_checkpoint_signed_by_another_key_is_named(app: Flask, ctx: None) -> None:
    signed_head(3)
    forged = witness.sign_checkpoint(Ed25519PrivateKey.generate(), "localhost/audit-log", 3, merkle_root(leaves()))
    with witness_file(app).open("a") as fh:
        fh.write(forged.text())
    result = verify_log()
    assert not result.ok
    assert result.witness_problems == [f"witness checkpoint 2 (size 3, root {merkle_root(leaves()).hex()}): not "
                                       "signed by the audit signing key"]


def test_a_malformed_record_is_named(app: Flask, ctx: None) -> None:
    signed_head(3)
    with witness_file(app).open("a") as fh:
        fh.write("localhost/audit-log\nthree\nAAAA\n\n\u2014 localhost/audit-log AAAAAAAA\n\n")
    result = verify_log()
    assert not result.ok
    assert result.witness_problems == [f"the witness file {witness_file(app)}: record 2 is malformed: a checkpoint's "
                                       "first lines are its origin and its tree size in decimal"]


# -- a head missing from the file, a torn record -------------------------------------------------------

def test_a_head_left_out_of_the_file_is_named_and_published_at_the_next_sweep(app: Flask, client: FlaskClient,
                                                                             ctx: None) -> None:
    head = signed_head(5)
    witness_file(app).unlink()  # as if the process died between the head's commit and its publication
    result = verify_log()
    assert not result.ok and result.witness_problems == []
    assert result.unpublished == [f"the witness file {witness_file(app)} is missing, but the database holds 1 "
                                  "signed tree heads"]
    status, body = client.get("/readyz").status_code, client.get("/readyz").get_json()
    assert status == 503
    assert body["checks"]["audit_witness"] == "behind: the newest signed tree head is not in the witness file"
    assert make_head().tree_size == 5  # not a reason to stop signing
    db.session.rollback()
    witness_file(app).write_bytes(b"")
    assert verify_log().unpublished == [f"tree head {head.id} (size 5): not in the witness file {witness_file(app)}"]
    run_periodic()  # the sweep publishes what is missing
    db.session.remove()
    assert head_sizes(app) == [5]
    assert verify_log().ok
    assert client.get("/readyz").get_json()["checks"]["audit_witness"] == "ok"


def test_a_head_whose_publication_failed_before_a_later_one_is_published_at_the_next_sweep(app: Flask,
                                                                                          ctx: None) -> None:
    signed_head(2)
    missed = signed_head(3, start=2)
    signed_head(1, start=5)
    path = witness_file(app)
    records, _ = witness.read_records(path)
    path.write_text("".join(r.text() for r in records if r.size != 5))  # as if its append had failed
    assert verify_log().unpublished == [f"tree head {missed.id} (size 5): not in the witness file {path}"]
    run_periodic()
    db.session.remove()
    assert head_sizes(app) == [2, 6, 5]
    assert verify_log().ok


@pytest.mark.parametrize("cut", ["mid-body", "after-body", "after-blank-line", "mid-signature", "before-last-newline"])
def test_a_record_cut_short_by_a_crash_is_named_and_cut_off_before_the_next(app: Flask, ctx: None, cut: str) -> None:
    signed_head(3)
    whole = witness_file(app).read_bytes()
    record = witness.sign_checkpoint(heads.signing_key(), "localhost/audit-log", 99, b"\x01" * 32)
    text = record.text().encode()
    body = len(record.body.encode())
    length = {"mid-body": 10, "after-body": body, "after-blank-line": body + 1, "mid-signature": body + 20,
              "before-last-newline": len(text) - 1}[cut]
    with witness_file(app).open("ab") as fh:
        fh.write(text[:length])  # a write cut short
    result = verify_log()
    assert not result.ok and result.witness_problems == []
    assert result.unpublished == [f"the witness file {witness_file(app)}: {witness.TORN}"]
    signed_head(2, start=3)
    data = witness_file(app).read_bytes()
    assert data.startswith(whole) and b"\n99\n" not in data and b"\n5\n" in data[len(whole):]
    assert head_sizes(app) == [3, 5]
    assert verify_log().ok


# -- a head every minute while the log grows -----------------------------------------------------------

def test_the_sweep_signs_and_publishes_a_head_every_minute_while_the_log_grows(app: Flask, ctx: None) -> None:
    assert heads.HEAD_INTERVAL.total_seconds() == 60
    add_entries(3)
    run_periodic()
    db.session.remove()
    first = heads.latest_head()
    assert first is not None and head_sizes(app) == [3]
    add_entries(2, start=3)
    assert make_head_if_due(now=first.signed_at + timedelta(seconds=59)) is None
    later = make_head_if_due(now=first.signed_at + timedelta(minutes=1))
    assert later is not None and later.tree_size == 5
    db.session.commit()
    assert head_sizes(app) == [3, 5]
    run_periodic()  # the log did not grow: no head, nothing written
    db.session.remove()
    assert head_sizes(app) == [3, 5] and db.session.scalar(select(func.count()).select_from(TreeHead)) == 2


# -- co-signing ----------------------------------------------------------------------------------------

def cosigner_key(app: Flask, tmp_path: Path) -> tuple[Path, str]:
    path = tmp_path / "council.key"
    result = app.test_cli_runner().invoke(args=["audit", "witness-key", "--name", "council.example.com/witness",
                                                "--out", str(path)])
    assert result.exit_code == 0, result.output
    return path, result.output.strip().splitlines()[-1]


def cosign(app: Flask, key: Path, *args: str) -> tuple[int, str]:
    result = app.test_cli_runner().invoke(args=["audit", "witness", "--key-file", str(key), *args])
    return result.exit_code, result.output


def test_a_second_party_cosigns_each_checkpoint_once_it_extends_the_last(app: Flask, client: FlaskClient,
                                                                         ctx: None, tmp_path: Path) -> None:
    key, vkey = cosigner_key(app, tmp_path)
    name, hex_id, encoded = vkey.split("+", 2)
    raw = base64.b64decode(encoded)
    assert name == "council.example.com/witness" and raw[0] == 0x04
    council = Ed25519PublicKey.from_public_bytes(raw[1:])
    assert bytes.fromhex(hex_id) == hashlib.sha256(name.encode() + b"\n\x04" + raw[1:]).digest()[:4]
    assert (tmp_path / "council.key").stat().st_mode & 0o077 == 0

    first = signed_head(4)
    code, output = cosign(app, key)
    assert code == 0 and f"size 4, root {bytes(first.root_hash).hex()} (the first)" in output, output
    second = signed_head(5, start=4)
    code, output = cosign(app, key)
    assert code == 0 and "size 9" in output and "consistent with size 4" in output
    code, output = cosign(app, key)
    assert code == 0 and output.startswith("already co-signed: size 9")

    cosigned = Path(app.config["PORTAL_SETTINGS"].audit_witness_dir) / "cosigned"
    records = cosigned.read_text().split("\n\n")[:-1]
    assert len(records) == 4  # two notes: a body and its signature lines each
    for body, lines, head in ((records[0], records[1], first), (records[2], records[3], second)):
        assert body == f"localhost/audit-log\n{head.tree_size}\n{base64.b64encode(head.root_hash).decode()}"
        portal_line, council_line = lines.split("\n")
        served_key(client).verify(base64.b64decode(portal_line.split(" ")[2])[4:], (body + "\n").encode())
        assert council_line.startswith(f"{DASH}{name} ")
        blob = base64.b64decode(council_line.split(" ")[2])
        assert blob[:4] == bytes.fromhex(hex_id) and len(blob) == 76
        moment = int.from_bytes(blob[4:12], "big")
        council.verify(blob[12:], f"cosignature/v1\ntime {moment}\n{body}\n".encode())  # C2SP tlog-cosignature
    code, output = verify_command(app, "--witness-key", vkey)
    assert code == 0, output

    # The log cut short and its heads deleted: the co-signed checkpoints say so too.
    as_dba("DELETE FROM audit_entries WHERE seq > 4")
    as_dba("DELETE FROM tree_heads WHERE tree_size = 9")
    code, output = verify_command(app, "--witness-key", vkey)
    assert code == 1 and f"the log is shorter than {name} co-signed: co-signed checkpoint 2 (size 9" in output


def test_the_cosigner_refuses_what_does_not_hold_and_writes_nothing(app: Flask, ctx: None, tmp_path: Path) -> None:
    key, _ = cosigner_key(app, tmp_path)
    cosigned = Path(app.config["PORTAL_SETTINGS"].audit_witness_dir) / "cosigned"
    code, output = cosign(app, key)
    assert code == 1 and "nothing to co-sign" in output
    signed_head(4)
    assert cosign(app, key)[0] == 0
    before = cosigned.read_bytes()
    add_entries(2, start=4)
    private = heads.signing_key()
    # A checkpoint the portal's key signed over a root this log does not give (a forked log).
    other = witness.sign_checkpoint(private, "localhost/audit-log", 6, b"\x07" * 32)
    with witness_file(app).open("a") as fh:
        fh.write(other.text())
    code, output = cosign(app, key)
    assert code == 1 and "no longer give the checkpoint's root; nothing was co-signed" in output
    # One signed by another key.
    stranger = witness.sign_checkpoint(Ed25519PrivateKey.generate(), "localhost/audit-log", 6, b"\x07" * 32)
    with witness_file(app).open("a") as fh:
        fh.write(stranger.text())
    code, output = cosign(app, key)
    assert code == 1 and "is not signed by the audit log's key" in output
    # One smaller than what was co-signed before (the log cut to 3 and a head signed over it).
    as_dba("DELETE FROM audit_entries WHERE seq > 3")
    smaller = witness.sign_checkpoint(private, "localhost/audit-log", 3, merkle_root(leaves()))
    with witness_file(app).open("a") as fh:
        fh.write(smaller.text())
    code, output = cosign(app, key)
    assert code == 1 and "smaller than the one co-signed before (size 4): the log was cut short" in output
    assert cosigned.read_bytes() == before
    code, output = cosign(app, tmp_path / "nothing-here.key")
    assert code == 2 and "cannot be read" in output
    (tmp_path / "other").mkdir()
    code, output = verify_command(app, "--witness-key", cosigner_key(app, tmp_path / "other")[1], "--cosigned",
                                  str(tmp_path / "nowhere"))
    assert code == 1 and f"the co-signed file {tmp_path / 'nowhere'} is missing" in output
    kept = key.read_bytes()
    again = app.test_cli_runner().invoke(args=["audit", "witness-key", "--name", "x.example/w", "--out", str(key)])
    assert again.exit_code == 1 and "exists already; a key is never replaced" in again.output
    assert key.read_bytes() == kept
    spaced = app.test_cli_runner().invoke(args=["audit", "witness-key", "--name", "a b", "--out",
                                                str(tmp_path / "spaced.key")])
    assert spaced.exit_code == 2 and "no spaces" in spaced.output and not (tmp_path / "spaced.key").exists()
    code, output = verify_command(app, "--witness-key", "not-a-key")
    assert code == 2 and "NAME+KEYID+BASE64" in output


def test_a_file_longer_than_the_tail_read_is_followed_from_its_end(app: Flask, client: FlaskClient,
                                                                   ctx: None) -> None:
    """The sweep and /readyz read only the end of the file; verify reads all of it."""
    count = 420  # about 190 bytes a record: more than TAIL_BYTES
    for i in range(count):
        add_entries(1, start=i)
        make_head(full=False)
        db.session.commit()
    assert witness_file(app).stat().st_size > witness.TAIL_BYTES
    assert head_sizes(app) == list(range(1, count + 1))
    tail, trouble = witness.read_records(witness_file(app), tail=True)
    assert trouble is None and 0 < len(tail) < count
    assert [r.size for r in tail] == list(range(count + 1 - len(tail), count + 1))
    assert witness.publish_pending() == 0
    assert client.get("/readyz").get_json()["checks"]["audit_witness"] == "ok"
    result = verify_log()
    assert result.ok and result.checkpoints == count and result.heads == count, result.problems


def test_processes_publishing_at_once_write_each_checkpoint_once_and_whole(app: Flask, ctx: None) -> None:
    """Each publisher takes the file's lock (flock, also between descriptors of one process)."""
    import threading

    for i in range(6):
        signed_head(1, start=i)
    heads_made = [witness.detached(h) for h in db.session.scalars(select(TreeHead).order_by(TreeHead.id))]
    witness_file(app).unlink()  # as if none had been published
    barrier = threading.Barrier(8)
    counts: list[int] = []

    def publisher() -> None:
        with app.app_context():
            barrier.wait()
            counts.append(witness.publish(heads_made))

    threads = [threading.Thread(target=publisher) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert sum(counts) == 6
    assert head_sizes(app) == [1, 2, 3, 4, 5, 6]
    assert verify_log().ok
