"""Rate limits on the public doors (portal/ratelimit.py): sign-in and the links shared with
regulators. Past the limit a client gets the 429 page with Retry-After, and nothing else happens
(no audit entry, no sign-in flow); other clients are not affected; behind PORTAL_PROXY_HOPS
trusted proxies the forwarded client address is what counts, and without them a forged
X-Forwarded-For changes nothing. Counted in memory, and in Redis when the portal has it."""

from __future__ import annotations

from pathlib import Path

import pytest
from flask import Flask

from portal import create_app
from portal.config import ConfigError, Settings
from portal.ratelimit import SHARED_LINK, SIGN_IN
from tests.conftest import REDIS_PREFIX, app_config
from tests.helpers import audit_entries

MISS = "access:object:refused"  # how a miss on a link is audited
SIGN_IN_PER_MINUTE = int(SIGN_IN.split(" per minute")[0])
LINK_PER_MINUTE = int(SHARED_LINK.split(" per minute")[0])
BAD_TOKEN = "A" * 43  # the shape of a token, but no link's

memory_and_redis = pytest.mark.parametrize("app", ["sqlite", pytest.param("redis", marks=pytest.mark.redis)],
                                           indirect=True)


def address(ip: str) -> dict[str, str]:
    return {"REMOTE_ADDR": ip}


@memory_and_redis
def test_sign_in_is_refused_past_the_limit_for_that_address_only(app: Flask) -> None:
    client = app.test_client()
    for n in range(SIGN_IN_PER_MINUTE):
        started = client.get("/auth/login", environ_base=address("203.0.113.7"))
        assert started.status_code == 302, n
    refused = client.get("/auth/login", environ_base=address("203.0.113.7"))
    assert refused.status_code == 429
    page = refused.get_data(as_text=True)
    assert "Too many requests" in page and "Please wait a moment and try again." in page
    assert int(refused.headers["Retry-After"]) > 0
    assert refused.headers["Content-Security-Policy"]  # our error page, with our headers
    # Someone else, from another address, signs in as usual.
    assert client.get("/auth/login", environ_base=address("198.51.100.20")).status_code == 302


@memory_and_redis
def test_misses_on_shared_links_stop_being_audited_past_the_limit(app: Flask) -> None:
    client = app.test_client()
    for n in range(LINK_PER_MINUTE):
        assert client.get(f"/evidence/shared/{BAD_TOKEN}", environ_base=address("203.0.113.9")).status_code == 404, n
    misses = audit_entries(app, MISS)
    assert len(misses) == LINK_PER_MINUTE
    for _ in range(5):
        refused = client.get(f"/evidence/shared/{BAD_TOKEN}", environ_base=address("203.0.113.9"))
        assert refused.status_code == 429
    assert len(audit_entries(app, MISS)) == LINK_PER_MINUTE  # the flood wrote nothing more
    assert client.get(f"/evidence/shared/{BAD_TOKEN}/download",
                      environ_base=address("203.0.113.10")).status_code == 404


@pytest.mark.redis
@pytest.mark.parametrize("app", ["redis"], indirect=True)
def test_redis_counts_under_this_portals_prefix(app: Flask) -> None:
    import redis

    client = app.test_client()
    client.get("/auth/login", environ_base=address("192.0.2.44"))
    store = redis.Redis.from_url(app.config["PORTAL_SETTINGS"].redis_url)
    keys = [k.decode() for k in store.scan_iter(match=f"LIMITS:LIMITER/{REDIS_PREFIX}192.0.2.44/*")]
    assert keys and all("auth.login" in k for k in keys), keys


def test_forwarded_addresses_count_only_behind_trusted_proxies(tmp_path: Path, idp_url: str,
                                                                sqlite_template: Path) -> None:
    base = tmp_path
    for hops, expect_separate in ((0, False), (1, True)):
        database = base / f"portal-{hops}.db"
        database.write_bytes(sqlite_template.read_bytes())
        application = create_app(app_config(base / str(hops), idp_url, f"sqlite:///{database}", proxy_hops=hops))
        client = application.test_client()
        for n in range(SIGN_IN_PER_MINUTE):
            headers = {"X-Forwarded-For": f"198.51.100.{n}"}  # a new address each time, from one proxy
            assert client.get("/auth/login", headers=headers, environ_base=address("10.0.0.2")).status_code == 302
        last = client.get("/auth/login", headers={"X-Forwarded-For": "198.51.100.250"},
                          environ_base=address("10.0.0.2"))
        # Without proxies the header is the client's word and is ignored: all came from 10.0.0.2.
        assert last.status_code == (302 if expect_separate else 429), hops


@pytest.mark.parametrize("hops", [-1, 6])
def test_proxy_hops_must_be_a_small_whole_number(tmp_path: Path, hops: int) -> None:
    with pytest.raises(ConfigError, match="PORTAL_PROXY_HOPS"):
        create_app(app_config(tmp_path, "http://127.0.0.1:9400", f"sqlite:///{tmp_path / 'p.db'}", proxy_hops=hops))
    with pytest.raises(ConfigError, match="PORTAL_PROXY_HOPS"):
        Settings.from_env({"PORTAL_PROXY_HOPS": "two"})
