"""The monitoring-data rights portal.

Importing the package loads nothing but the standard library (the application's imports are made
inside :func:`create_app`): ``python -m portal.evidence.verify`` must run where only the standard
library and ``cryptography`` are installed.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

if TYPE_CHECKING:
    from flask import Flask

    from portal.config import Settings


def _sqlite_pragmas(dbapi_connection: Any, connection_record: Any) -> None:
    if type(dbapi_connection).__module__.startswith("sqlite3"):
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA busy_timeout=10000")
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA secure_delete=ON")  # deleted content is overwritten, not left in free space
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA cache_size=-32768")  # 32 MiB: index maintenance on large tables
        cursor.close()
    elif type(dbapi_connection).__module__.startswith("psycopg"):
        # The monitoring tables have a partition per person (monitoring/partitions.py). A generic
        # plan of a prepared statement locks every partition before it prunes them (PostgreSQL
        # 15): with thousands of people that exhausts the lock table. Plan for the values given.
        cursor = dbapi_connection.cursor()
        cursor.execute("SET plan_cache_mode = force_custom_plan")
        cursor.close()
        dbapi_connection.commit()


def _database_int_converter() -> type:
    from werkzeug.routing import IntegerConverter

    class DatabaseInt(IntegerConverter):
        """``<int:...>`` in a URL: a number no database column can hold (SQLite's and PostgreSQL's
        BIGINT end at 2**63 - 1) matches no route, so it is a 404 like any other missing id,
        not an overflow in the driver."""

        def __init__(self, url_map: Any, *args: Any, **kwargs: Any) -> None:
            kwargs.setdefault("max", 2**63 - 1)
            super().__init__(url_map, *args, **kwargs)

    return DatabaseInt


def _own_database_file(database_url: str) -> None:
    """A SQLite database file (and so its -wal and -shm, which SQLite gives the same mode) is
    readable by the portal's user only: created so before SQLite creates it, tightened if looser."""
    import os
    import stat

    from portal.config import sqlite_path

    path = sqlite_path(database_url)
    if path is None or not path.parent.is_dir():
        return
    fd = os.open(path, os.O_RDONLY | os.O_CREAT, 0o600)
    try:
        if stat.S_IMODE(os.fstat(fd).st_mode) & 0o077:
            os.fchmod(fd, 0o600)
    finally:
        os.close(fd)


def _session_settings(settings: Settings, overrides: dict[str, Any]) -> dict[str, Any]:
    conf: dict[str, Any] = {
        "SESSION_PERMANENT": True,
        "PERMANENT_SESSION_LIFETIME": timedelta(hours=settings.session_hours),
        "SESSION_COOKIE_NAME": "portal_session",
        "SESSION_COOKIE_HTTPONLY": True,
        "SESSION_COOKIE_SAMESITE": "Lax",
        "SESSION_COOKIE_SECURE": settings.secure_cookies,
        "SESSION_KEY_PREFIX": overrides.get("SESSION_KEY_PREFIX", f"{settings.redis_prefix}session:"),
        "SESSION_ID_LENGTH": 32,
    }
    if settings.sessions_in == "database":
        return conf  # portal.session_store
    if settings.sessions_in == "redis":
        import redis

        conf["SESSION_TYPE"] = "redis"
        # A Redis that stops answering (paused, cut off) fails a request in seconds, not never.
        conf["SESSION_REDIS"] = redis.Redis.from_url(settings.redis_url, socket_connect_timeout=2, socket_timeout=2)
    else:
        from cachelib.file import FileSystemCache

        # One file per session; past the threshold, expired files are pruned (Redis expires keys itself).
        settings.session_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        conf["SESSION_TYPE"] = "cachelib"
        conf["SESSION_CACHELIB"] = FileSystemCache(str(settings.session_dir), threshold=20_000, mode=0o600)
    return conf


def create_app(config: dict[str, Any] | None = None) -> Flask:
    """Build the portal. ``config`` overrides settings (Settings field names; any other lower-case
    name is refused) or Flask config keys (upper case); everything else comes from ``PORTAL_*``
    environment variables."""
    from flask import Flask, g
    from flask_babel import gettext
    from sqlalchemy import event
    from sqlalchemy.engine import Engine

    from portal import (
        admin,
        api,
        audit,
        auth,
        consent,
        crypto,
        errors,
        evidence,
        exports,
        health,
        i18n,
        jobs,
        mail,
        monitoring,
        people,
        policy,
        ratelimit,
        recipients,
        reports,
        rights,
        scim,
        session_store,
        training,
    )
    from portal.config import ENV, PROJECT_ROOT, SETTINGS_KEY, Settings, decode_key
    from portal.crypto import keys as crypto_keys
    from portal.extensions import babel, csrf, db, login_manager, migrate, oauth, server_sessions
    from portal.security import install_headers, install_limited_gate, install_proxy

    overrides = dict(config or {})
    settings = Settings.from_env(overrides=overrides)  # refuses a name that is neither a setting nor upper case
    settings.validate()
    if not event.contains(Engine, "connect", _sqlite_pragmas):
        event.listen(Engine, "connect", _sqlite_pragmas)

    app = Flask(
        __name__,
        instance_path=str(settings.instance_dir),
        template_folder=str(PROJECT_ROOT / "templates"),
        static_folder=str(PROJECT_ROOT / "static"),
    )
    app.url_map.converters["int"] = _database_int_converter()  # before any blueprint declares a route
    app.config.update(
        SECRET_KEY=decode_key(ENV["secret_key"], settings.secret_key),
        SQLALCHEMY_DATABASE_URI=settings.database_url,
        SQLALCHEMY_ENGINE_OPTIONS={"pool_pre_ping": True},
        MAX_CONTENT_LENGTH=16 * 1024 * 1024,
        WTF_CSRF_TIME_LIMIT=None,
        WTF_CSRF_SSL_STRICT=settings.secure_cookies,
        BABEL_DEFAULT_LOCALE="en",
        BABEL_TRANSLATION_DIRECTORIES=str(PROJECT_ROOT / "portal" / "translations"),
    )
    app.config[SETTINGS_KEY] = settings  # read through portal.config.current_settings()
    app.config.update(_session_settings(settings, overrides))
    app.config.update({k: v for k, v in overrides.items() if k.isupper()})
    settings.instance_dir.mkdir(parents=True, exist_ok=True)
    _own_database_file(settings.database_url)
    settings.artifact_dir.mkdir(parents=True, exist_ok=True, mode=0o700)

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    db.init_app(app)
    from portal.monitoring.partitions import not_a_partition

    # A person's partitions (PostgreSQL) are made at run time, never by a migration: autogenerate
    # must not see them (it would write their drop).
    migrate.init_app(app, db, directory=str(PROJECT_ROOT / "migrations"), render_as_batch=True,
                     compare_server_default=False, include_name=not_a_partition)
    csrf.init_app(app)
    babel.init_app(app, locale_selector=i18n.select_locale, timezone_selector=i18n.select_timezone)
    if settings.sessions_in == "database":
        session_store.init_app(app, app.config["SECRET_KEY"], app.config["SESSION_KEY_PREFIX"],
                               app.config["SESSION_ID_LENGTH"])
    else:
        server_sessions.init_app(app)
    crypto_keys.init_app(app, settings.master_key_bytes, settings.key_dir, settings.pkcs11())
    mail.init_app(app, settings)

    login_manager.init_app(app)
    login_manager.session_protection = None  # sessions are checked against auth_sessions instead
    login_manager.login_view = "auth.login"
    login_manager.login_message = None

    oauth.init_app(app)
    oauth.register(
        "idp",
        client_id=settings.oidc_client_id,
        client_secret=settings.oidc_client_secret,
        server_metadata_url=f"{settings.oidc_issuer}/.well-known/openid-configuration",
        client_kwargs={"scope": settings.oidc_scopes, "code_challenge_method": "S256", "timeout": 10},
    )

    # Each package registers its models (so that the metadata is complete for migrations and
    # create_all), job handlers, periodic tasks, hooks and pages (docs/architecture.md, "Wiring").
    for package in (audit, crypto, auth, monitoring, exports, mail, recipients, rights, people, consent, policy,
                    training, api, jobs, admin, evidence, reports, scim):
        package.register(app)
    app.register_blueprint(health.bp)
    errors.install(app)
    i18n.register(app)
    install_headers(app, _origin(settings.oidc_issuer))
    install_limited_gate(app)
    install_proxy(app, settings.proxy_hops)
    ratelimit.init_app(app, redis_url=settings.redis_url, api_rate_limit=settings.api_rate_limit)

    from portal.cli import register_commands
    from portal.jurisdictions import transfers

    register_commands(app)

    @app.context_processor
    def template_globals() -> dict[str, Any]:
        auth_session = g.get("auth_session")
        return {"auth_session": auth_session, "limited_session": bool(auth_session is not None and auth_session.is_limited),
                "_": gettext, "demo": settings.demo,
                "dpo_contact": settings.dpo_contact, "transfer_lines": transfers.lines}

    return app


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"
