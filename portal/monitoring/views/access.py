"""“Who accessed my data”: when staff opened or exported the employee's monitoring data, why,
and for which case; never who (CJEU C-579/21)."""

from __future__ import annotations

from flask import Blueprint, render_template, request
from flask_login import current_user

from portal.monitoring.access import accesses_of, role_label
from portal.monitoring.aggregates import zone_of
from portal.security import signed_in

bp = Blueprint("access", __name__)


@bp.get("/me/access-log")
@signed_in
def index() -> str:
    page = request.args.get("page", 1, type=int) or 1
    return render_template("monitoring/access/index.html", log=accesses_of(current_user.id, page=page),
                           zone=zone_of(current_user.timezone), role_label=role_label)
