"""E-mail to employees: notifications queued as jobs, rendered from ``templates/mail/`` at send time,
sent through Flask-Mail over SMTP (``PORTAL_SMTP_URL``) or, without one, written to an outbox folder.

Callers use :func:`portal.mail.services.notify`; see that module for the template format.
"""

from __future__ import annotations

import logging

from flask import Flask

from portal.config import Settings

log = logging.getLogger(__name__)


def init_app(app: Flask, settings: Settings) -> None:
    """Configure Flask-Mail from the (already validated) settings."""
    from portal.extensions import mail

    target = settings.smtp_target()
    app.config.update(
        MAIL_DEFAULT_SENDER=settings.mail_from,
        MAIL_SUPPRESS_SEND=False,  # never silently dropped; without SMTP the outbox is used instead
        MAIL_SERVER=target.host if target else "",
        MAIL_PORT=target.port if target else 0,
        MAIL_USE_SSL=bool(target and target.implicit_tls),
        MAIL_USE_TLS=bool(target and target.starttls),
        MAIL_USERNAME=target.username if target else None,
        MAIL_PASSWORD=target.password if target else None,
    )
    mail.init_app(app)
    if target is None and not settings.demo:
        log.warning("PORTAL_SMTP_URL is not set: e-mail is written to %s instead of being sent",
                    settings.outbox_dir)


def register(app: Flask) -> None:
    """The ``mail.send`` job and the outbox purge (docs/architecture.md, "Wiring"); Flask-Mail is
    configured earlier, by :func:`init_app`."""
    from . import services  # noqa: F401  (the mail.send job handler, the periodic purge)
