"""refusal grounds per regime: Colombia's duty to remain in a database is Decreto 1377 Art. 9

Revision ID: 0008_refusal_grounds
Revises: 0007_evidence
Create Date: 2026-12-04 15:00:00.000000

Refusals recorded under the old code ``co-1581-10`` (which cited Ley 1581 Art. 10, a wrong
citation) rested on the duty to remain in a database, which is Decreto 1377 de 2013 Art. 9 (DUR
1074 de 2015 art. 2.2.2.25.2.8): their code becomes the registry's ``co-1377-9``. The audit log
keeps what was recorded at the time. No schema change.
"""
from alembic import op


# revision identifiers, used by Alembic.
revision = '0008_refusal_grounds'
down_revision = '0007_evidence'
branch_labels = None
depends_on = None


def upgrade():
    op.execute("UPDATE data_requests SET legal_basis = 'co-1377-9' WHERE legal_basis = 'co-1581-10'")


def downgrade():
    op.execute("UPDATE data_requests SET legal_basis = 'co-1581-10' WHERE legal_basis = 'co-1377-9'")
