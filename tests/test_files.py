"""portal.files: every byte written or an error, and files that appear only when complete.

The descriptors here really do take only part of what they are given (a small non-blocking pipe
read slowly by a thread), and the failing writes are real ones (a file-size limit set with
setrlimit in a process of its own, so the kernel refuses the bytes past it)."""

from __future__ import annotations

import fcntl
import io
import os
import random
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from portal.config import PROJECT_ROOT
from portal.files import atomic_file, read_exactly, write_all, write_file

DATA = random.Random(7).randbytes(300_000)


class SlowPipe:
    """A non-blocking pipe of one page whose reader takes 1,000 bytes at a time, now and then."""

    def __init__(self) -> None:
        self.read_fd, self.write_fd = os.pipe()
        fcntl.fcntl(self.write_fd, fcntl.F_SETPIPE_SZ, 4096)
        os.set_blocking(self.write_fd, False)
        self.received = bytearray()
        self.thread = threading.Thread(target=self._drain, daemon=True)

    def _drain(self) -> None:
        while chunk := os.read(self.read_fd, 1000):
            self.received += chunk
            time.sleep(0.0002)

    def __enter__(self) -> SlowPipe:
        return self

    def __exit__(self, *exc: object) -> None:
        os.close(self.read_fd)


@pytest.fixture
def pipe() -> Iterator[SlowPipe]:
    with SlowPipe() as slow:
        yield slow


def test_the_pipe_really_takes_less_than_it_is_given(pipe: SlowPipe) -> None:
    written = os.write(pipe.write_fd, DATA)  # what the code did before: one call, its count ignored
    assert 0 < written < len(DATA)
    os.close(pipe.write_fd)


@pytest.mark.parametrize("as_target", [
    pytest.param(lambda fd: fd, id="descriptor"),
    pytest.param(lambda fd: io.FileIO(fd, "wb", closefd=False), id="raw-file"),
    pytest.param(lambda fd: open(fd, "wb", buffering=0, closefd=False), id="unbuffered-open"),  # noqa: SIM115
])
def test_write_all_writes_every_byte_to_a_descriptor_that_takes_a_few_at_a_time(
        pipe: SlowPipe, as_target: Callable[[int], Any]) -> None:
    pipe.thread.start()
    target = as_target(pipe.write_fd)
    write_all(target, DATA)
    write_all(target, memoryview(DATA)[:10])  # a view is taken as it is
    os.close(pipe.write_fd)
    pipe.thread.join(timeout=30)
    assert bytes(pipe.received) == DATA + DATA[:10]


def test_write_all_raises_when_the_reader_is_gone() -> None:
    read_fd, write_fd = os.pipe()
    os.close(read_fd)
    with pytest.raises(BrokenPipeError):
        write_all(write_fd, b"x" * 10)
    os.close(write_fd)


def test_read_exactly_reads_across_short_reads(pipe: SlowPipe) -> None:
    os.set_blocking(pipe.write_fd, True)
    def write_and_close() -> None:
        write_all(pipe.write_fd, DATA)
        os.close(pipe.write_fd)

    writer = threading.Thread(target=write_and_close)
    writer.start()
    with open(pipe.read_fd, "rb", buffering=0, closefd=False) as source:  # raw reads return what is there
        assert read_exactly(source, 100_000) == DATA[:100_000]
        assert read_exactly(source, 10**6) == DATA[100_000:]  # short only at the end
        assert read_exactly(source, 8) == b""
    writer.join()


def test_atomic_file_appears_whole_or_not_at_all(tmp_path: Path) -> None:
    target = tmp_path / "out.bin"
    assert write_file(target, DATA)
    assert target.read_bytes() == DATA and target.stat().st_mode & 0o777 == 0o600
    with pytest.raises(RuntimeError), atomic_file(target) as (fh, outcome):
        fh.write(b"half of something")
        raise RuntimeError("stopped half way")
    assert target.read_bytes() == DATA  # the earlier file is untouched
    assert not outcome.placed
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.bin"]


def test_an_exclusive_file_is_never_replaced(tmp_path: Path) -> None:
    target = tmp_path / "once.key"
    assert write_file(target, b"first", exclusive=True)
    assert not write_file(target, b"second", exclusive=True)
    assert target.read_bytes() == b"first"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["once.key"]


# -- writes the kernel refuses part way ---------------------------------------------------------

LIMITED = """
import resource, signal, sys
from pathlib import Path
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # the write fails with EFBIG instead of killing us
resource.setrlimit(resource.RLIMIT_FSIZE, (4096, resource.RLIM_INFINITY))
from portal.crypto.keys import write_once
from portal.monitoring.artifacts import write_atomically
writer = {"key": write_once, "artifact": write_atomically}[sys.argv[1]]
try:
    writer(Path(sys.argv[2]), b"k" * 10_000)
except OSError as exc:
    print(type(exc).__name__, exc.errno)
    sys.exit(3)
"""


@pytest.mark.parametrize("kind", ["key", "artifact"])
def test_a_key_or_artifact_write_that_fails_part_way_raises_and_leaves_no_file(tmp_path: Path, kind: str) -> None:
    folder = tmp_path / "store"
    folder.mkdir()
    done = subprocess.run([sys.executable, "-c", LIMITED, kind, str(folder / "subject.key")], cwd=PROJECT_ROOT,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 3, done.stderr
    assert done.stdout.startswith("OSError 27"), done.stdout  # EFBIG, after the first 4,096 bytes went out
    assert list(folder.iterdir()) == []  # neither the key nor a temporary file
