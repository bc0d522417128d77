"""an upheld objection suppresses a legitimate-interest purpose too (analytics, security monitoring)

Revision ID: 0020_objection_purposes
Revises: 0019_restriction_lift
Create Date: 2026-12-04 15:30:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0020_objection_purposes'
down_revision = '0019_restriction_lift'
branch_labels = None
depends_on = None

BEFORE = "purpose IN ('ai_training', 'screenshot_capture')"
AFTER = "purpose IN ('ai_training', 'screenshot_capture', 'analytics', 'security_monitoring')"


def upgrade():
    with op.batch_alter_table('suppressions', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('ck_suppressions_purpose_valid'), type_='check')
        batch_op.create_check_constraint(batch_op.f('ck_suppressions_purpose_valid'), AFTER)
        batch_op.alter_column('purpose', existing_type=sa.String(length=40), comment='a ProcessingPurpose value')
        batch_op.alter_column('reason', existing_type=sa.String(length=32),
                              comment='consent-withdrawn, objection, restriction, erasure')


def downgrade():
    op.execute("DELETE FROM suppressions WHERE purpose IN ('analytics', 'security_monitoring')")
    with op.batch_alter_table('suppressions', schema=None) as batch_op:
        batch_op.alter_column('reason', existing_type=sa.String(length=32),
                              comment='consent-withdrawn, objection, erasure')
        batch_op.alter_column('purpose', existing_type=sa.String(length=40), comment=None)
        batch_op.drop_constraint(batch_op.f('ck_suppressions_purpose_valid'), type_='check')
        batch_op.create_check_constraint(batch_op.f('ck_suppressions_purpose_valid'), BEFORE)
