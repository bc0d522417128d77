"""exports removed by an erasure name the request that removed them; an export's dates are days
in the time zone it records

Revision ID: 0009_export_erased_by
Revises: 0008_refusal_grounds
Create Date: 2026-12-04 14:20:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0009_export_erased_by'
down_revision = '0008_refusal_grounds'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('exports', schema=None) as batch_op:
        batch_op.add_column(sa.Column('erased_by_request_id', sa.String(length=32), nullable=True,
                                      comment='the erasure request whose fulfilment deleted this copy'))
        batch_op.create_foreign_key(batch_op.f('fk_exports_erased_by_request_id_data_requests'), 'data_requests',
                                    ['erased_by_request_id'], ['id'])
        batch_op.add_column(sa.Column('date_zone', sa.String(length=64), nullable=True,
                                      comment='the time zone whose days date_from and date_to are (none: UTC)'))
        for column in ('date_from', 'date_to'):
            batch_op.alter_column(column, existing_type=sa.Date(), existing_nullable=True,
                                  existing_comment='inclusive, UTC', comment='inclusive, a day in date_zone')


def downgrade():
    with op.batch_alter_table('exports', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_exports_erased_by_request_id_data_requests'), type_='foreignkey')
        batch_op.drop_column('erased_by_request_id')
        batch_op.drop_column('date_zone')
        for column in ('date_from', 'date_to'):
            batch_op.alter_column(column, existing_type=sa.Date(), existing_nullable=True,
                                  existing_comment='inclusive, a day in date_zone', comment='inclusive, UTC')
