"""the provisioning system's SCIM externalId of an employee (sealed, with a keyed index)

Revision ID: 0017_scim
Revises: 0016_languages
Create Date: 2026-12-04 15:20:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0017_scim'
down_revision = '0016_languages'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('employees', schema=None) as batch_op:
        batch_op.add_column(sa.Column('external_id_index', sa.String(length=64), nullable=True, comment="HMAC of the provisioning system's SCIM externalId"))
        batch_op.add_column(sa.Column('external_id_sealed', sa.LargeBinary(), nullable=True))
        batch_op.create_unique_constraint(batch_op.f('uq_employees_external_id_index'), ['external_id_index'])


def downgrade():
    with op.batch_alter_table('employees', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('uq_employees_external_id_index'), type_='unique')
        batch_op.drop_column('external_id_sealed')
        batch_op.drop_column('external_id_index')
