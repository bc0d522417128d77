"""Sealed streams: what goes in comes out, and any change to the sealed bytes is refused."""

from __future__ import annotations

import io
import os

import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from hypothesis import given, settings
from hypothesis import strategies as st

from portal.crypto.keys import SealError
from portal.crypto.streams import CHUNK, MAGIC, PREFIX_BYTES, TAG, SealingWriter, open_stream

KEY = AESGCM(bytes(range(32)))
HEADER = len(MAGIC) + PREFIX_BYTES


def seal(data: bytes, aad: bytes = b"export:s:e", pieces: int = 7) -> bytes:
    out = io.BytesIO()
    with SealingWriter(out, KEY, aad) as writer:
        step = max(1, len(data) // pieces)
        for start in range(0, len(data), step):
            writer.write(data[start:start + step])
        assert writer.tell() == len(data)
    return out.getvalue()


def unseal(blob: bytes, aad: bytes = b"export:s:e") -> bytes:
    return b"".join(open_stream(io.BytesIO(blob), KEY, aad))


@pytest.mark.parametrize("size", [0, 1, CHUNK - 1, CHUNK, CHUNK + 1, 3 * CHUNK + 17])
def test_round_trip_at_chunk_edges(size: int) -> None:
    data = os.urandom(size)
    blob = seal(data)
    assert unseal(blob) == data
    chunks = max(1, -(-size // CHUNK))
    assert len(blob) == HEADER + size + chunks * TAG
    if size >= 64:
        assert data[:64] not in blob


@settings(max_examples=30, deadline=None)
@given(st.binary(max_size=3 * 1024))
def test_round_trip_small(data: bytes) -> None:
    assert unseal(seal(data)) == data


def test_two_seals_of_the_same_data_differ() -> None:
    data = b"same" * 1000
    assert seal(data) != seal(data)


@pytest.fixture
def sealed() -> tuple[bytes, bytes]:
    data = os.urandom(2 * CHUNK + 100)
    return data, seal(data)


def test_a_flipped_byte_anywhere_is_refused(sealed: tuple[bytes, bytes]) -> None:
    _, blob = sealed
    for position in (0, len(MAGIC), HEADER, HEADER + CHUNK, len(blob) - 1):
        damaged = bytearray(blob)
        damaged[position] ^= 0x01
        with pytest.raises(SealError):
            unseal(bytes(damaged))


def test_truncation_is_refused_even_at_a_chunk_boundary(sealed: tuple[bytes, bytes]) -> None:
    _, blob = sealed
    boundary = HEADER + CHUNK + TAG  # after the first whole chunk: only the "last" flag betrays it
    for cut in (boundary, boundary + CHUNK + TAG, len(blob) - 1):
        with pytest.raises(SealError):
            unseal(blob[:cut])


def test_reordered_or_repeated_chunks_are_refused(sealed: tuple[bytes, bytes]) -> None:
    _, blob = sealed
    size = CHUNK + TAG
    first, second = blob[HEADER:HEADER + size], blob[HEADER + size:HEADER + 2 * size]
    rest = blob[HEADER + 2 * size:]
    with pytest.raises(SealError):
        unseal(blob[:HEADER] + second + first + rest)
    with pytest.raises(SealError):
        unseal(blob[:HEADER] + first + first + second + rest)


def test_another_binding_does_not_open(sealed: tuple[bytes, bytes]) -> None:
    _, blob = sealed
    with pytest.raises(SealError):
        unseal(blob, b"export:s:other")


def test_nothing_is_released_before_its_chunk_verifies(sealed: tuple[bytes, bytes]) -> None:
    data, blob = sealed
    damaged = bytearray(blob)
    damaged[-1] ^= 0x01  # only the last chunk is damaged
    released = []
    with pytest.raises(SealError):
        for chunk in open_stream(io.BytesIO(bytes(damaged)), KEY, b"export:s:e"):
            released.append(chunk)
    assert b"".join(released) == data[: 2 * CHUNK]


def test_writing_after_close_fails() -> None:
    writer = SealingWriter(io.BytesIO(), KEY, b"x")
    writer.close()
    with pytest.raises(ValueError):
        writer.write(b"more")
