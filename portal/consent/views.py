"""The employee's consent: each purpose that rests on consent, grant and withdraw (equally easy,
one click each), and the full ledger of decisions."""

from __future__ import annotations

from dataclasses import dataclass

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import LazyString, lazy_gettext
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import select
from werkzeug.wrappers import Response

from portal.audit.services import Actor
from portal.auth.services import describe_device
from portal.consent import services as consent
from portal.consent.models import ConsentEvent, Decision, Purpose, Suppression
from portal.extensions import db
from portal.forms import ButtonForm
from portal.monitoring.aggregates import zone_of
from portal.monitoring.models import DataCategory
from portal.policy import services as policy
from portal.security import open_to_former, owned_or_404, signed_in

bp = Blueprint("consent", __name__)

# What saying yes means, and what saying no does, in plain words.
MEANING: dict[str, tuple[LazyString, LazyString]] = {
    Purpose.AI_TRAINING: (
        lazy_gettext("Your input events and application activity may be copied into data sets used to train and "
                     "evaluate AI models. Each use is listed on your dashboard."),
        lazy_gettext("No new training data set will include your data from the moment you withdraw. Data sets "
                     "built before stay as they are; ask for erasure or object if you want more."),
    ),
    Purpose.SCREENSHOT_CAPTURE: (
        lazy_gettext("The agent on your computer takes periodic pictures of your screen. They are encrypted and "
                     "used for security investigations and, if you also agree to AI training, to train models."),
        lazy_gettext("The agent stops sending screenshots and the portal refuses any that still arrive. "
                     "Screenshots already taken are kept for their retention period unless you ask for erasure."),
    ),
}
ERRORS = {
    "already granted": lazy_gettext("You had already given this consent; nothing changed."),
    "already withdrawn": lazy_gettext("You had already withdrawn this consent; nothing changed."),
    "there is no consent to withdraw": lazy_gettext("You have not given this consent, so there is nothing to "
                                                    "withdraw; nothing changed."),
}
PURPOSES = frozenset(p.value for p in Purpose)
SUPPRESSION_REASONS = {
    "objection": lazy_gettext("your objection was upheld"),
    "erasure": lazy_gettext("your data was erased"),
}


@dataclass
class PurposeView:
    purpose: Purpose
    category: DataCategory
    latest: ConsentEvent | None
    suppression: Suppression | None
    means: LazyString
    withdrawing: LazyString

    @property
    def granted(self) -> bool:
        return self.latest is not None and self.latest.decision == Decision.GRANTED

    @property
    def other_suppression(self) -> str | None:
        """Why the data stays excluded even with consent (an objection, an erasure), if it does."""
        if self.suppression is None or self.suppression.reason == "consent-withdrawn":
            return None
        reason = SUPPRESSION_REASONS.get(self.suppression.reason)
        return str(reason) if reason else self.suppression.reason


def consent_categories() -> dict[str, DataCategory]:
    """The register's categories that rest on consent, by purpose, in register order."""
    rows = db.session.scalars(select(DataCategory).where(DataCategory.consent_purpose.is_not(None))
                              .order_by(DataCategory.sort_order, DataCategory.key))
    return {row.consent_purpose: row for row in rows if row.consent_purpose in PURPOSES}


def _purpose_or_404(value: str) -> Purpose:
    if value not in consent_categories():
        abort(404)
    return Purpose(value)


@bp.get("/me/consent")
@open_to_former
@signed_in
def index() -> str:
    states = consent.states(current_user.id)
    purposes = [
        PurposeView(purpose=Purpose(key), category=category, latest=states.get(Purpose(key)),
                    suppression=consent.suppression(current_user.id, Purpose(key)),
                    means=MEANING[key][0], withdrawing=MEANING[key][1])
        for key, category in consent_categories().items()
    ]
    return render_template("consent/index.html", purposes=purposes, ledger=consent.ledger(current_user.id),
                           names={key: c.name for key, c in consent_categories().items()}, form=ButtonForm(),
                           zone=zone_of(current_user.timezone))


@bp.get("/me/consent/entries/<int:entry_id>")
@open_to_former
@signed_in
def entry(entry_id: int) -> str:
    item = owned_or_404(ConsentEvent, entry_id)
    category = consent_categories().get(item.purpose)
    return render_template("consent/entry.html", entry=item, name=category.name if category else item.purpose,
                           version=policy.get_version(item.policy_version) if item.policy_version else None,
                           zone=zone_of(current_user.timezone))


def _decide(purpose_value: str, decision: Decision) -> Response:
    purpose = _purpose_or_404(purpose_value)
    if not ButtonForm().validate_on_submit():
        abort(400)
    try:
        consent.decide(current_user.id, purpose, decision, actor=Actor("employee", current_user.id),
                       method="portal", device=describe_device(request.user_agent.string),
                       policy_version=policy.current_version_number())
    except consent.ConsentError as error:
        db.session.rollback()
        flash(str(ERRORS.get(str(error), lazy_gettext("That could not be done; nothing changed."))), "error")
        return redirect(url_for("consent.index"))
    db.session.commit()
    name = consent_categories()[purpose.value].name
    if decision == Decision.GRANTED:
        flash(_("Thank you. Your consent to “%(name)s” is recorded. You can withdraw it here at any time.",
                name=name), "success")
    else:
        flash(_("Your consent to “%(name)s” is withdrawn, with immediate effect.", name=name), "success")
    return redirect(url_for("consent.index", _anchor=f"purpose-{purpose.value}"))


@bp.post("/me/consent/<purpose>/grant")
@signed_in
def grant(purpose: str) -> Response:
    return _decide(purpose, Decision.GRANTED)


@bp.post("/me/consent/<purpose>/withdraw")
@open_to_former
@signed_in
def withdraw(purpose: str) -> Response:
    return _decide(purpose, Decision.WITHDRAWN)
