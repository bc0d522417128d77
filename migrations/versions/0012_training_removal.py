"""records of AI-training use kept by an erasure and marked "removal required"

Revision ID: 0012_training_removal
Revises: 0011_step_up
Create Date: 2026-12-04 14:00:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0012_training_removal'
down_revision = '0011_step_up'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('training_set_uses', schema=None) as batch_op:
        batch_op.add_column(sa.Column('removal_required_at', sa.DateTime(timezone=True), nullable=True,
                                      comment='an erasure covered this use: its data must be removed from the set and its models'))
        batch_op.add_column(sa.Column('removal_request_id', sa.String(length=32), nullable=True,
                                      comment='the erasure that asked for the removal'))
        batch_op.create_foreign_key(batch_op.f('fk_training_set_uses_removal_request_id_data_requests'),
                                    'data_requests', ['removal_request_id'], ['id'], ondelete='SET NULL')
    with op.batch_alter_table('erasure_counts', schema=None) as batch_op:
        batch_op.add_column(sa.Column('removal_required', sa.Integer(), server_default='0', nullable=False,
                                      comment='records of use in AI training kept as evidence and marked for removal from the sets and models'))


def downgrade():
    with op.batch_alter_table('erasure_counts', schema=None) as batch_op:
        batch_op.drop_column('removal_required')
    with op.batch_alter_table('training_set_uses', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_training_set_uses_removal_request_id_data_requests'), type_='foreignkey')
        batch_op.drop_column('removal_request_id')
        batch_op.drop_column('removal_required_at')
