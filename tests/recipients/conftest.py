"""The DPO tests' cast (signed-in clients for alice, dana, pat, olga and the admin) for the pages."""

from tests.rights.staff.conftest import cast, jobs_recorded  # noqa: F401  (fixtures)
