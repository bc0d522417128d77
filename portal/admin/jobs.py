"""Staff's view of the job system: what is running, what is waiting to be retried, and what gave
up and why. Ids and counts only: no personal data is shown or needed here."""

from __future__ import annotations

from flask import Blueprint, render_template, request
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from sqlalchemy import case, func, select

from portal.extensions import db
from portal.jobs.models import Job, JobState
from portal.monitoring.aggregates import zone_of
from portal.security import Permission, requires

bp = Blueprint("jobs", __name__)
PAGE = 50
STATES = [s.value for s in JobState]
# Worded for people; the state's value is for URLs only.
STATE_LABELS = {JobState.QUEUED: _l("waiting"), JobState.RUNNING: _l("running"), JobState.SUCCEEDED: _l("done"),
                JobState.FAILED: _l("gave up")}


@bp.get("/admin/jobs")
@requires(Permission.JOBS_READ)
def index() -> str:
    state = request.args.get("state", "")
    if state not in STATES:
        state = ""
    query = select(Job)
    if state:
        query = query.where(Job.state == state)
    # Failures first (someone should look at them), then what is running or waiting, newest first.
    order = case((Job.state == JobState.FAILED, 0), (Job.state == JobState.RUNNING, 1),
                 (Job.state == JobState.QUEUED, 2), else_=3)
    jobs = list(db.session.scalars(query.order_by(order, Job.created_at.desc()).limit(PAGE)))
    counts = dict(db.session.execute(select(Job.state, func.count()).group_by(Job.state)).tuples().all())
    return render_template("admin/jobs.html", jobs=jobs, counts=counts, state=state, states=STATES, state_labels=STATE_LABELS,
                           zone=zone_of(current_user.timezone), page_size=PAGE)
