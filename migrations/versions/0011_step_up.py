"""step-up kept apart from sign-in: auth_sessions.stepped_up_at, and auth_time only as the IdP gave it

Revision ID: 0011_step_up
Revises: 0010_sqlite_audit_triggers
Create Date: 2026-12-04 14:00:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0011_step_up'
down_revision = '0010_sqlite_audit_triggers'
branch_labels = None
depends_on = None

AUTH_TIME = 'the auth_time the IdP reported at sign-in; empty when it sent none'
OLD_AUTH_TIME = 'when the IdP last authenticated the person'
STEPPED_UP_AT = ("when the IdP re-authenticated the person for the portal's step-up request (that ID token's "
                 "auth_time); an ordinary sign-in leaves it empty")


def upgrade():
    with op.batch_alter_table('auth_sessions', schema=None) as batch_op:
        batch_op.add_column(sa.Column('stepped_up_at', sa.DateTime(timezone=True), nullable=True,
                                      comment=STEPPED_UP_AT))
        batch_op.alter_column('auth_time', existing_type=sa.DateTime(timezone=True), nullable=True,
                              comment=AUTH_TIME, existing_comment=OLD_AUTH_TIME)


def downgrade():
    op.execute("UPDATE auth_sessions SET auth_time = created_at WHERE auth_time IS NULL")
    with op.batch_alter_table('auth_sessions', schema=None) as batch_op:
        batch_op.alter_column('auth_time', existing_type=sa.DateTime(timezone=True), nullable=False,
                              comment=OLD_AUTH_TIME, existing_comment=AUTH_TIME)
        batch_op.drop_column('stepped_up_at')
