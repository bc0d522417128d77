"""Sealed streams: a large file encrypted at rest in chunks, written and read with flat memory.

The construction is STREAM (Hoang, Reyhanitabar, Rogaway and Vizár, "Online
Authenticated-Encryption and its Nonce-Reuse Misuse-Resistance", CRYPTO 2015), as used by
age and Tink: AES-256-GCM over fixed-size chunks, each nonce made of a random per-file prefix,
the chunk's counter and a flag marking the last chunk. Reordering, dropping, repeating or
truncating chunks makes opening fail, and a reader never releases a chunk that did not verify.

Layout: ``b"PSS1" || prefix (7 bytes) || chunk_0 || ... || chunk_n``, each chunk being
``AES-GCM(plaintext[<= CHUNK], nonce = prefix || counter (4 bytes, big-endian) || last (1 byte))``.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import BinaryIO

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from portal.crypto.keys import SealError

MAGIC = b"PSS1"
PREFIX_BYTES = 7
CHUNK = 256 * 1024
TAG = 16
MAX_CHUNKS = 2**32 - 1


def _nonce(prefix: bytes, counter: int, last: bool) -> bytes:
    if counter > MAX_CHUNKS:
        raise OverflowError("sealed stream too long")
    return prefix + counter.to_bytes(4, "big") + (b"\x01" if last else b"\x00")


class SealingWriter:
    """A write-only binary file that seals what is written to it into ``out``.

    ``tell()`` counts plaintext bytes (``zipfile`` writes to it as to an unseekable stream).
    ``close()`` seals the last chunk; without it the stream does not open (truncated)."""

    def __init__(self, out: BinaryIO, key: AESGCM, aad: bytes) -> None:
        self._out = out
        self._key = key
        self._aad = aad
        self._prefix = os.urandom(PREFIX_BYTES)
        self._buffer = bytearray()
        self._counter = 0
        self._written = 0
        self.closed = False
        out.write(MAGIC + self._prefix)

    def writable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return False

    def tell(self) -> int:
        return self._written

    def write(self, data: bytes | bytearray | memoryview) -> int:
        if self.closed:
            raise ValueError("write to a closed sealed stream")
        self._buffer += data
        self._written += len(data)
        while len(self._buffer) > CHUNK:  # keep at least one byte back: the last chunk is sealed at close
            self._seal(bytes(self._buffer[:CHUNK]), last=False)
            del self._buffer[:CHUNK]
        return len(data)

    def flush(self) -> None:
        self._out.flush()

    def _seal(self, chunk: bytes, *, last: bool) -> None:
        self._out.write(self._key.encrypt(_nonce(self._prefix, self._counter, last), chunk, self._aad))
        self._counter += 1

    def close(self) -> None:
        if self.closed:
            return
        self._seal(bytes(self._buffer), last=True)
        self._buffer.clear()
        self._out.flush()
        self.closed = True

    def __enter__(self) -> SealingWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def open_stream(source: BinaryIO, key: AESGCM, aad: bytes) -> Iterator[bytes]:
    """Yield the plaintext of a sealed stream chunk by chunk, each only after it verified.
    Raises :class:`SealError` on a wrong key or binding, tampering or truncation."""
    header = source.read(len(MAGIC) + PREFIX_BYTES)
    if len(header) != len(MAGIC) + PREFIX_BYTES or header[: len(MAGIC)] != MAGIC:
        raise SealError("not a sealed stream")
    prefix = header[len(MAGIC):]
    counter = 0
    current = source.read(CHUNK + TAG)
    while True:
        following = source.read(CHUNK + TAG)
        last = not following
        try:
            plain = key.decrypt(_nonce(prefix, counter, last), current, aad)
        except InvalidTag:
            raise SealError("sealed stream is damaged, truncated or bound to something else") from None
        yield plain
        if last:
            return
        counter += 1
        current = following
