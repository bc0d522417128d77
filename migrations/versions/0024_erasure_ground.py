"""an erasure records the ground it rests on (GDPR Art. 17(1)'s letter, or the regime's article)

Revision ID: 0024_erasure_ground
Revises: 0023_transfers_dpia
Create Date: 2026-12-04 17:10:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0024_erasure_ground'
down_revision = '0023_transfers_dpia'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('data_requests', schema=None) as batch_op:
        batch_op.add_column(sa.Column('erasure_ground', sa.String(length=24), nullable=True,
                                      comment='what an erasure rests on: an erasure ground of the regime'))


def downgrade():
    with op.batch_alter_table('data_requests', schema=None) as batch_op:
        batch_op.drop_column('erasure_ground')
