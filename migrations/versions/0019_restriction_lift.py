"""lifting a restriction of processing: who lifted it, and the employee's notice before it

Revision ID: 0019_restriction_lift
Revises: 0018_exclusion_log
Create Date: 2026-12-04 15:20:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0019_restriction_lift'
down_revision = '0018_exclusion_log'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('restrictions', schema=None) as batch_op:
        batch_op.add_column(sa.Column('lift_notified_at', sa.DateTime(timezone=True), nullable=True, comment="when the employee's notice of the lift was queued (GDPR Art. 18(3)): before the lift"))
        batch_op.add_column(sa.Column('lifted_by_id', sa.String(length=32), nullable=True))
        batch_op.create_foreign_key(batch_op.f('fk_restrictions_lifted_by_id_employees'), 'employees', ['lifted_by_id'], ['id'], ondelete='SET NULL')
        batch_op.create_check_constraint(batch_op.f('ck_restrictions_lifted_after_notice'), "lifted_at IS NULL OR (lift_notified_at IS NOT NULL AND lift_notified_at <= lifted_at)")


def downgrade():
    with op.batch_alter_table('restrictions', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('ck_restrictions_lifted_after_notice'), type_='check')
        batch_op.drop_constraint(batch_op.f('fk_restrictions_lifted_by_id_employees'), type_='foreignkey')
        batch_op.drop_column('lifted_by_id')
        batch_op.drop_column('lift_notified_at')
