"""The models' shared column types: a status column gives its enum back, keeps to the values the
database's CHECK constraint allows, and refuses any other value before it reaches the database."""

from __future__ import annotations

import re
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask
from sqlalchemy.exc import StatementError

from portal.db import Base, EnumString
from portal.extensions import db
from portal.jobs.models import Job, JobState
from portal.people.models import Employee, EmploymentStatus
from tests.helpers import make_employee


def enum_columns() -> list[tuple[sa.Table, sa.Column[Any], EnumString[Any]]]:
    return [(table, column, column.type) for table in Base.metadata.tables.values() for column in table.columns
            if isinstance(column.type, EnumString)]


def test_every_enum_column_allows_exactly_its_enums_values_in_the_database(app: Flask) -> None:
    assert len(enum_columns()) == 25  # every model is loaded with the app
    for table, column, kind in enum_columns():
        checks = [c for c in table.constraints if isinstance(c, sa.CheckConstraint)
                  and re.search(rf"\b{column.name} IN \([^()]*\)$", str(c.sqltext))]  # its list, last
        assert len(checks) == 1, f"{table.name}.{column.name} has no CHECK of its values"
        allowed = re.findall(r"'([^']*)'", str(checks[0].sqltext))
        assert allowed == [m.value for m in kind.enum_cls], f"{table.name}.{column.name}"


def test_a_status_reads_back_as_its_enum(app: Flask) -> None:
    subject = make_employee(app)
    with app.app_context():
        employee = db.session.get(Employee, subject)
        assert employee is not None
        db.session.expire(employee)
        assert employee.employment_status is EmploymentStatus.ACTIVE
        assert employee.employment_status == "active"  # a StrEnum: templates compare it with text
        stored = db.session.execute(sa.text("SELECT employment_status FROM employees WHERE id = :id"),
                                    {"id": subject}).scalar_one()
        assert type(stored) is str and stored == "active"
        assert db.session.scalar(sa.select(sa.func.count()).select_from(Employee).where(
            Employee.employment_status == "active")) == 1


def test_a_value_outside_the_enum_is_refused_before_the_database_sees_it(app: Flask) -> None:
    with app.app_context():
        job = Job(kind="k", state="paused", not_before=sa.func.now())
        db.session.add(job)
        with pytest.raises(StatementError, match="'paused' is not a JobState value"):
            db.session.flush()
        db.session.rollback()
        with pytest.raises(StatementError, match="is not a JobState value"):
            db.session.scalars(sa.select(Job).where(Job.state == "paused")).all()
        db.session.rollback()
        assert db.session.scalar(sa.select(sa.func.count()).select_from(Job)) == 0
        assert db.session.scalars(sa.select(Job).where(Job.state.in_([JobState.QUEUED, "running"]))).all() == []
