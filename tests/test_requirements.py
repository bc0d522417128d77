"""The lock files (make lock): every package pinned with its hashes, one version of a package in
all of them, and the demo's identity provider outside production's."""

from __future__ import annotations

import re

from portal.config import PROJECT_ROOT

LOCKS = ("requirements.txt", "requirements-demo.txt", "requirements-dev.txt")
PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==(\S+) \\$")


def locked(name: str) -> dict[str, str]:
    """The lock file's pins (normalized name -> version); each must be followed by its hashes."""
    lines = (PROJECT_ROOT / name).read_text().splitlines()
    pins: dict[str, str] = {}
    for number, line in enumerate(lines):
        if not line or line.startswith(("#", " ")):
            continue
        match = PIN.match(line)
        assert match, f"{name}:{number + 1}: not a pin followed by its hashes: {line!r}"
        assert lines[number + 1].strip().startswith("--hash=sha256:"), f"{name}:{number + 1}: no hash"
        pins[re.sub(r"[-_.]+", "-", match.group(1)).lower()] = match.group(2)
    return pins


def test_every_lock_pins_with_hashes_and_a_package_has_one_version_everywhere() -> None:
    locks = {name: locked(name) for name in LOCKS}
    versions: dict[str, set[str]] = {}
    for pins in locks.values():
        for package, version in pins.items():
            versions.setdefault(package, set()).add(version)
    assert {package: found for package, found in versions.items() if len(found) > 1} == {}
    assert "oidc-provider-mock" not in locks["requirements.txt"]
    assert "oidc-provider-mock" in locks["requirements-demo.txt"]
    assert "oidc-provider-mock" in locks["requirements-dev.txt"]  # the tests sign in through it
