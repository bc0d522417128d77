"""The production portal runs on requirements.txt alone: without the demo's packages (its identity
provider, oidc-provider-mock), the tests' and the tools', and without importing ``portal.demo`` (the
screenshot painter and the rest of the demo). Migrated with ``flask db upgrade`` and served by
gunicorn on ``wsgi:app``, as the Containerfile does, in processes whose import system refuses every
module that requirements.txt does not install, and ``portal.demo``."""

from __future__ import annotations

import importlib.metadata
import json
import os
import re
import socket
import subprocess
import sys
import time
from pathlib import Path

import requests

from portal.config import PROJECT_ROOT, new_key

# Installer tooling that every Python environment has, the production image's included.
TOOLING = {"pip", "setuptools", "pkg_resources", "_distutils_hack"}

# Runs ``python -m MODULE ARGS...`` with a finder first on sys.meta_path that refuses the modules
# named in $REFUSED_MODULES (a JSON list) and everything under them, as if they were not installed.
LAUNCHER = '''
import importlib.abc, json, os, runpy, sys

REFUSED = tuple(json.loads(os.environ["REFUSED_MODULES"]))


class Refuse(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.startswith(REFUSED) and any(name == r or name.startswith(r + ".") for r in REFUSED):
            raise ModuleNotFoundError(f"No module named {name!r} (not installed in production)", name=name)
        return None


loaded = [name for name in sys.modules if any(name == r or name.startswith(r + ".") for r in REFUSED)]
assert not loaded, f"imported before the finder: {loaded}"
sys.meta_path.insert(0, Refuse())
try:
    import oidc_provider_mock  # noqa: F401
except ModuleNotFoundError:
    pass
else:
    raise SystemExit("the finder let oidc_provider_mock through")
module, sys.argv = sys.argv[1], sys.argv[1:]
runpy.run_module(module, run_name="__main__", alter_sys=True)
'''


def _normalized(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def refused_modules() -> list[str]:
    """Every top-level module installed here whose distributions are all outside requirements.txt,
    and ``portal.demo``."""
    locked = {_normalized(m.group(1)) for line in (PROJECT_ROOT / "requirements.txt").read_text().splitlines()
              if (m := re.match(r"([A-Za-z0-9][A-Za-z0-9._-]*)==", line))}
    outside = {top for top, dists in importlib.metadata.packages_distributions().items()
               if not any(_normalized(d) in locked for d in dists)}
    return sorted((outside - TOOLING) | {"portal.demo"})


def test_the_refused_modules_are_the_demo_and_the_tests_packages() -> None:
    refused = refused_modules()
    assert {"oidc_provider_mock", "portal.demo", "pytest", "hypothesis"} <= set(refused)
    assert not {"flask", "sqlalchemy", "PIL", "gunicorn", "portal"} & set(refused)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def test_the_portal_starts_and_answers_without_the_demo_or_dev_packages(tmp_path: Path) -> None:
    launcher = tmp_path / "refusing.py"
    launcher.write_text(LAUNCHER)
    env = {k: v for k, v in os.environ.items() if not k.startswith("PORTAL_")}
    env.update({
        "REFUSED_MODULES": json.dumps(refused_modules()),
        "PYTHONPATH": str(PROJECT_ROOT),
        "PORTAL_INSTANCE_DIR": str(tmp_path / "instance"),
        "PORTAL_DATABASE_URL": f"sqlite:///{tmp_path / 'instance' / 'portal.db'}",
        "PORTAL_KEY_DIR": str(tmp_path / "keys"),
        "PORTAL_SECRET_KEY": new_key(),
        "PORTAL_MASTER_KEY": new_key(),
        "PORTAL_OIDC_ISSUER": "https://sso.example.com",  # never called: nobody signs in here
        "PORTAL_OIDC_CLIENT_ID": "portal",
        "PORTAL_OIDC_CLIENT_SECRET": "production-like-secret",
        "PORTAL_BASE_URL": "https://privacy.example.com",
    })
    python = [sys.executable, str(launcher)]

    migrated = subprocess.run([*python, "flask", "--app", "wsgi", "db", "upgrade"], cwd=tmp_path, env=env,
                              capture_output=True, text=True, timeout=240)
    assert migrated.returncode == 0, migrated.stderr[-3000:]

    port = _free_port()
    server = subprocess.Popen([*python, "gunicorn", "--workers", "1", "--bind", f"127.0.0.1:{port}", "wsgi:app"],
                              cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while True:
            assert server.poll() is None, f"gunicorn stopped:\n{server.communicate()[0][-3000:]}"
            try:
                health = requests.get(f"{base}/healthz", timeout=60)  # the worker may still be importing
                break
            except requests.ConnectionError:
                assert time.monotonic() < deadline, "gunicorn did not answer within a minute"
                time.sleep(0.2)
        assert health.status_code == 200 and health.json() == {"status": "ok"}
        ready = requests.get(f"{base}/readyz", timeout=10)
        assert ready.status_code == 200, ready.text
        assert ready.json()["status"] == "ready", ready.text
        landing = requests.get(f"{base}/", timeout=10)
        assert landing.status_code == 200 and "/auth/login" in landing.text
    finally:
        server.terminate()
        output = server.communicate(timeout=30)[0]
    assert "ModuleNotFoundError" not in output and "ImportError" not in output, output[-3000:]
