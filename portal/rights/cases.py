"""A request loaded as a case for a member of staff: the one rule by which every staff page that
works on one request (the DPO's case pages, ``rights/views/staff.py``; the case's evidence packs,
``evidence/views.py``) gets it from the id in its URL."""

from __future__ import annotations

from portal.extensions import db
from portal.people.models import Employee
from portal.security import refuse_access

from .models import DataRequest
from .services import may_view


def case_or_404(staff: Employee, request_id: str) -> DataRequest:
    """The request ``request_id`` if ``staff`` may view it (:func:`.services.may_view`). A case
    this member of staff may not view (a DPO of another queue) is answered 404 and the attempt
    audited, exactly as one that does not exist."""
    case = db.session.get(DataRequest, request_id) if request_id else None
    if case is None or not may_view(staff, case):
        refuse_access("data_requests", request_id, owner_id=case.subject_id if case is not None else None)
    return case
