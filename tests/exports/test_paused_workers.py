"""An export whose formatting workers are stopped and resumed over and over, as a debugger, a
profiler or ``docker pause`` does, with ``PYTHONUNBUFFERED=1`` (as many container images set):
it finishes once, and its package is the one an undisturbed export makes.

With the unbuffered standard output a worker's write may stop short when it is stopped in the
middle of it; before every write went through ``portal.files.write_all`` the rest of the frame was
dropped and the export failed with "MessagePack data is malformed" after five attempts.

Real processes throughout: ``flask export run`` on a demo instance of its own, its workers found
by their command line and sent SIGSTOP and SIGCONT every 0.1 s by a thread of this test."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
import zipfile
from pathlib import Path

import pytest

from portal.config import PROJECT_ROOT

EVENTS = 200_000
ALICE = "alice@example.com"


def flask(env: dict[str, str], *args: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "flask", "--app", "wsgi", *args], cwd=PROJECT_ROOT, env=env,
                          capture_output=True, text=True, timeout=timeout)


def children(pid: int) -> list[int]:
    """The processes whose parent is ``pid``."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
            found.append(int(entry.name))
    return found


class Pauser(threading.Thread):
    """Stops and resumes every child of ``pid`` every ``interval`` seconds until told to end."""

    def __init__(self, pid: int, interval: float = 0.1) -> None:
        super().__init__(daemon=True)
        self.pid, self.interval = pid, interval
        self.done = threading.Event()
        self.pauses = 0
        self.paused: set[int] = set()

    def run(self) -> None:
        while not self.done.is_set():
            targets = children(self.pid)
            for child in targets:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(child, signal.SIGSTOP)
                    self.paused.add(child)
            self.pauses += bool(targets)
            time.sleep(self.interval)
            for child in targets:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(child, signal.SIGCONT)
            time.sleep(self.interval / 4)


def data_hashes(path: Path) -> dict[str, str]:
    """The manifest's SHA-256 of every data file, after checking each file against it."""
    with zipfile.ZipFile(path) as archive:
        manifest = json.loads(archive.read("manifest.json"))
        for entry in manifest["files"]:
            assert hashlib.sha256(archive.read(entry["path"])).hexdigest() == entry["sha256"], entry["path"]
        assert {f["path"] for f in manifest["files"]} == set(archive.namelist()) - {"manifest.json"}
    return {f["path"]: f["sha256"] for f in manifest["files"] if f["path"].startswith("data/")}


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="finds the workers through /proc")
def test_an_export_with_paused_workers_finishes_once_and_matches_an_undisturbed_one(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PORTAL_")}
    env.update({"PORTAL_DEMO": "1", "PORTAL_INSTANCE_DIR": str(tmp_path / "instance"),
                "PORTAL_KEY_DIR": str(tmp_path / "keys")})
    for args in (("db", "upgrade"), ("demo", "seed"),
                 ("demo", "generate", "--employee", ALICE, "--events", str(EVENTS), "--screenshots", "0",
                  "--seed", "3")):
        done = flask(env, *args)
        assert done.returncode == 0, done.stderr[-3000:]

    calm = flask(env, "export", "run", "--employee", ALICE, "--out", str(tmp_path / "calm.zip"))
    assert calm.returncode == 0, calm.stderr[-3000:]

    unbuffered = {**env, "PYTHONUNBUFFERED": "1"}
    process = subprocess.Popen([sys.executable, "-m", "flask", "--app", "wsgi", "export", "run", "--employee", ALICE,
                                "--out", str(tmp_path / "paused.zip")],
                               cwd=PROJECT_ROOT, env=unbuffered, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True)
    pauser = Pauser(process.pid)
    pauser.start()
    try:
        out, err = process.communicate(timeout=600)
    finally:
        pauser.done.set()
        pauser.join()
        for child in pauser.paused:  # nothing stays stopped, whatever happened
            with contextlib.suppress(ProcessLookupError):
                os.kill(child, signal.SIGCONT)
    assert process.returncode == 0, err[-3000:]
    assert "did not finish" not in err, err[-3000:]  # finished on its first attempt
    assert pauser.pauses >= 5 and len(pauser.paused) >= 2, (pauser.pauses, pauser.paused)  # the workers were hit

    # The monitoring data is the same to the byte; the access log has grown by the first export.
    calm_hashes, paused_hashes = data_hashes(tmp_path / "calm.zip"), data_hashes(tmp_path / "paused.zip")
    assert set(paused_hashes) == set(calm_hashes)
    events = {path for path in calm_hashes if not path.startswith("data/access_log.")}
    assert {"data/input_events.jsonl", "data/input_events.csv", "data/app_activity.csv"} <= events
    assert {path: paused_hashes[path] for path in events} == {path: calm_hashes[path] for path in events}
    assert not list(tmp_path.glob(".*.part"))
