"""A job survives a PostgreSQL restart (a cluster of the test's own): the attempt that lost its
database is queued again with the reason, the thread runner takes it up once the database is back,
and it finishes exactly once."""

from __future__ import annotations

import pytest
from flask import Flask

from portal.jobs.models import JobState
from portal.jobs.runners import ThreadRunner, runner
from portal.jobs.services import DATABASE_LOST
from tests.exports.test_crash_recovery import (
    COMPLETE,
    ask_for_export,
    export_row,
    files_of,
    job_row,
    subject_with_data,
    wait_for,
)
from tests.helpers import audit_entries
from tests.pgcluster import PostgresCluster, own_postgres, pg_app  # noqa: F401 - fixtures


@pytest.mark.parametrize("pg_app", [{"export_pause_ms": 500}], indirect=True)
@pytest.mark.timeout(180)
def test_an_export_job_cut_off_by_a_restart_is_taken_up_again_and_finishes_once(
        pg_app: Flask, own_postgres: PostgresCluster) -> None:  # noqa: F811
    subject_id = subject_with_data(pg_app)
    export_id, job_id = ask_for_export(pg_app, subject_id, dispatch=True)  # to this app's thread runner
    with pg_app.app_context():
        wait_for("the export is under way", lambda: job_row(job_id).progress_done > 0, 60)
    own_postgres.restart(down_for=1)
    with pg_app.app_context():
        # Said to its owner and staff while it waits (5 s, the first retry's pause).
        wait_for("the attempt is queued again with the reason", lambda: (
            job_row(job_id).state, job_row(job_id).error) == (JobState.QUEUED, DATABASE_LOST), 60)
        active = runner()
        assert isinstance(active, ThreadRunner)
        wait_for("the job is done", lambda: job_row(job_id).state in (JobState.SUCCEEDED, JobState.FAILED), 120)
        job = job_row(job_id)
        assert (job.state, job.attempts, job.error) == (JobState.SUCCEEDED, 2, None)
        export = export_row(export_id)
    assert files_of(pg_app, subject_id) == [export.artifact_name]  # one artifact, no temporary file
    assert [e.targets["export"] for e in audit_entries(pg_app, COMPLETE)] == [export_id]
    assert audit_entries(pg_app, "exports:export:fail") == []
