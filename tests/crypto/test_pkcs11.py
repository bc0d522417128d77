"""The PKCS#11 key store on a real token (Debian's SoftHSM2, a token of this run's own): the same
behaviour as the key folder, the portal running on it, an erasure destroying the key on the token,
and a key restored onto the token destroyed again by the key-store check."""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask

from portal import create_app
from portal.audit.services import Actor
from portal.config import ConfigError
from portal.crypto import KeyDestroyed, keystore
from portal.crypto.keys import KeyStore, SealError, SubjectKeyStore
from portal.crypto.services import reapply_erasures
from portal.extensions import db
from portal.jobs.models import JobState
from tests.conftest import CI, app_config
from tests.rights.support import fill, make_world, manual_jobs, run_now
from tests.rights.test_erasure import approved_erasure

MODULE = "/usr/lib/softhsm/libsofthsm2.so"
SUBJECT = "0123456789abcdef0123456789abcdef"
OTHER = "fedcba9876543210fedcba9876543210"


@pytest.fixture(scope="session")
def token(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """A SoftHSM2 token for this run: its own configuration and token folder, initialised here."""
    if not (Path(MODULE).exists() and shutil.which("softhsm2-util")):
        message = "SoftHSM2 is not installed (Debian's softhsm2; `make test` installs it where it can)"
        if CI:
            pytest.fail(f"CI=true requires {message}")
        pytest.skip(message)
    base = tmp_path_factory.mktemp("softhsm")
    (base / "tokens").mkdir()
    conf = base / "softhsm2.conf"
    conf.write_text(f"directories.tokendir = {base / 'tokens'}\nobjectstore.backend = file\nlog.level = ERROR\n")
    os.environ["SOFTHSM2_CONF"] = str(conf)  # read when the library is first loaded, in this process
    label, pin = f"portal-{secrets.token_hex(3)}", secrets.token_hex(4)
    subprocess.run(["softhsm2-util", "--init-token", "--free", "--label", label, "--pin", pin,
                    "--so-pin", secrets.token_hex(4)], check=True, capture_output=True, timeout=60)
    yield {"module": MODULE, "token": label, "pin": pin}


@pytest.fixture
def master() -> bytes:
    return secrets.token_bytes(32)


@pytest.fixture(params=["file", "pkcs11"])
def store(request: pytest.FixtureRequest, tmp_path: Path, master: bytes) -> SubjectKeyStore:
    if request.param == "file":
        return KeyStore(tmp_path / "keys", master)
    from portal.crypto.pkcs11_store import Pkcs11KeyStore

    found = Pkcs11KeyStore(master, **request.getfixturevalue("token"))
    for subject in found.subject_ids():  # the token is shared by the run
        found.destroy(subject)
    return found


def test_both_backends_keep_create_open_and_destroy_keys_alike(store: SubjectKeyStore, master: bytes) -> None:
    assert not store.exists(SUBJECT) and store.key_id(SUBJECT) is None and store.destroy(SUBJECT) is None
    with pytest.raises(KeyDestroyed):
        store.data_key(SUBJECT)
    store.create(SUBJECT)
    store.create(OTHER)
    key, key_id = store.data_key(SUBJECT), store.key_id(SUBJECT)
    store.create(SUBJECT)  # a second create keeps the key
    assert store.data_key(SUBJECT) == key and store.key_id(SUBJECT) == key_id and len(key) == 32
    assert store.subject_ids() == sorted([SUBJECT, OTHER])
    sealed = store.cipher(SUBJECT).seal_bytes("event", "ev-1", b"secret")
    assert store.cipher(SUBJECT).open_bytes("event", "ev-1", sealed) == b"secret"
    assert store.destroy(SUBJECT) == key_id
    assert not store.exists(SUBJECT) and store.subject_ids() == [OTHER]
    with pytest.raises(KeyDestroyed):
        store.cipher(SUBJECT)
    store.create(SUBJECT)  # a new key for the same person: another key, another id
    assert store.data_key(SUBJECT) != key and store.key_id(SUBJECT) != key_id
    for call in (store.create, store.data_key, store.destroy, store.exists, store.key_id):
        with pytest.raises(ValueError, match="malformed subject id"):
            call("../escape")


def test_a_key_on_the_token_opens_only_with_the_master_key(token: dict[str, str], master: bytes) -> None:
    from portal.crypto.pkcs11_store import Pkcs11KeyStore

    ours = Pkcs11KeyStore(master, **token)
    ours.create(SUBJECT)
    with pytest.raises(SealError):
        Pkcs11KeyStore(secrets.token_bytes(32), **token).data_key(SUBJECT)
    ours.destroy(SUBJECT)


def test_pkcs11_settings_are_checked_at_start(tmp_path: Path) -> None:
    base = app_config(tmp_path, "http://127.0.0.1:9400", f"sqlite:///{tmp_path / 'p.db'}")
    with pytest.raises(ConfigError, match="needs PORTAL_PKCS11_MODULE, PORTAL_PKCS11_TOKEN, PORTAL_PKCS11_PIN"):
        create_app({**base, "key_store": "pkcs11"})
    with pytest.raises(ConfigError, match="is not a file"):
        create_app({**base, "key_store": "pkcs11", "pkcs11_module": str(tmp_path / "none.so"),
                    "pkcs11_token": "t", "pkcs11_pin": "1"})
    with pytest.raises(ConfigError, match="PORTAL_KEY_STORE must be one of file, pkcs11, not .vault."):
        create_app({**base, "key_store": "vault"})


@pytest.fixture
def hsm_app(app: Flask, token: dict[str, str], tmp_path: Path) -> Iterator[Flask]:
    """The test app with its subject keys on the token (same database and folders)."""
    settings = app.config["PORTAL_SETTINGS"]
    config: dict[str, Any] = app_config(tmp_path, settings.oidc_issuer, settings.database_url, key_store="pkcs11",
                                        pkcs11_module=token["module"], pkcs11_token=token["token"],
                                        pkcs11_pin=token["pin"])
    application = create_app(config)
    application.config["TESTING"] = True
    yield application
    with application.app_context():
        db.session.remove()
        db.engine.dispose()


def test_an_erasure_destroys_the_key_on_the_token_and_a_restored_one_is_destroyed_again(hsm_app: Flask) -> None:
    from pkcs11 import Attribute, ObjectClass

    from portal.crypto.pkcs11_store import LABEL_PREFIX

    manual_jobs(hsm_app)
    world = make_world(hsm_app)
    with hsm_app.app_context():
        store = keystore()
        assert store.kind == "pkcs11"
        fill(world.alice, events=6, shots=2)
        fill(world.bob, events=3, shots=0)
        wrapped = store._read(world.alice)  # what a backup of the token holds
        assert wrapped is not None and store.exists(world.bob)
        request_id, job_id = approved_erasure(world)
        assert run_now(job_id) == JobState.SUCCEEDED
        assert not keystore().exists(world.alice) and keystore().exists(world.bob)

        # The token restored from a backup taken before: the key object is back...
        with store._session() as session:  # type: ignore[attr-defined]
            session.create_object({Attribute.CLASS: ObjectClass.DATA, Attribute.LABEL: LABEL_PREFIX + world.alice,
                                   Attribute.TOKEN: True, Attribute.PRIVATE: True, Attribute.VALUE: wrapped})
        assert keystore().exists(world.alice)
        # ...until the destroyed keys are re-applied.
        result = reapply_erasures(Actor.system())
        db.session.commit()
        assert result.destroyed == [world.alice]
        assert not keystore().exists(world.alice) and keystore().exists(world.bob)
        keystore().destroy(world.bob)  # leave the shared token as it was


def test_the_orphan_sweep_on_the_token_counts_age_from_when_it_first_saw_a_key(hsm_app: Flask) -> None:
    """A token does not date its objects: an orphan is destroyed only by a sweep at least the age
    limit after the first sweep that saw it; the employees' keys stay."""
    from datetime import timedelta

    from portal.crypto.services import ORPHAN_AGE, sweep_orphan_keys
    from portal.db import new_id, utcnow
    from tests.helpers import make_employee

    alice = make_employee(hsm_app, "alice@example.com")
    with hsm_app.app_context():
        store = keystore()
        orphan = new_id()
        store.create(orphan)
        first = utcnow()
        assert sweep_orphan_keys(Actor.system(), now=first).too_recent == 1
        assert sweep_orphan_keys(Actor.system(), now=first + ORPHAN_AGE - timedelta(seconds=1)).destroyed == []
        assert store.exists(orphan)
        result = sweep_orphan_keys(Actor.system(), now=first + ORPHAN_AGE)
        db.session.commit()
        assert len(result.destroyed) == 1 and not store.exists(orphan) and store.exists(alice)
        store.destroy(alice)  # leave the shared token as it was
