"""The export's streaming plumbing on its own: a ZIP streamed into a sealed stream, and a table
written as JSON Lines and CSV in one pass, with nothing of an export package around them."""

from __future__ import annotations

import hashlib
import io
import zipfile
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from portal.crypto.keys import SealError
from portal.crypto.streams import SealingWriter, open_stream
from portal.exports.formatting import format_batch
from portal.exports.streaming import SealedZip, write_table

STAMP = (2026, 11, 23, 14, 5, 30)


def unsealed(sealed: bytes, key: AESGCM) -> bytes:
    return b"".join(open_stream(io.BytesIO(sealed), key, b"test"))


def test_members_are_hashed_in_and_the_archive_is_hashed_and_sealed_out(tmp_path: Path) -> None:
    key = AESGCM(AESGCM.generate_key(bit_length=256))
    out = io.BytesIO()
    with SealedZip(SealingWriter(out, key, b"test"), STAMP) as archive:
        member, entry = archive.member("notes/a.txt")
        with member:
            entry.write(b"hello ")
            entry.write(b"world")
        rows = [format_batch([({"n": n, "word": w}, (n, w)) for n, w in ((1, "one"), (2, "two, quoted"))])]
        count, jsonl, table = write_table(archive, "t.jsonl", "t.csv", ("n", "word"), rows, spool_dir=tmp_path)
    plain = unsealed(out.getvalue(), key)
    assert archive.sha256 == hashlib.sha256(plain).hexdigest() and archive.size == len(plain)
    assert entry.size == 11 and entry.hash.hexdigest() == hashlib.sha256(b"hello world").hexdigest()
    with zipfile.ZipFile(io.BytesIO(plain)) as zipped:
        assert zipped.namelist() == ["notes/a.txt", "t.jsonl", "t.csv"]
        assert all(info.date_time == STAMP for info in zipped.infolist())
        assert zipped.read("notes/a.txt") == b"hello world"
        assert count == 2
        assert zipped.read("t.csv") == b'n,word\r\n1,one\r\n2,"two, quoted"\r\n'
        assert zipped.read("t.jsonl").splitlines() == [b'{"n":1,"word":"one"}', b'{"n":2,"word":"two, quoted"}']
        for name, written in (("t.jsonl", jsonl), ("t.csv", table)):
            assert written.hash.hexdigest() == hashlib.sha256(zipped.read(name)).hexdigest()
    assert list(tmp_path.iterdir()) == []  # the spool is gone


def test_an_error_leaves_the_stream_unfinished() -> None:
    """A sealed stream without its last chunk does not open: a failed archive is never mistaken
    for a whole one."""
    key = AESGCM(AESGCM.generate_key(bit_length=256))
    out = io.BytesIO()
    with pytest.raises(RuntimeError), SealedZip(SealingWriter(out, key, b"test"), STAMP) as archive:
        member, entry = archive.member("a.txt")
        with member:
            entry.write(b"partial")
        raise RuntimeError("stop")
    with pytest.raises(SealError, match="truncated"):
        unsealed(out.getvalue(), key)
