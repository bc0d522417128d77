"""the language an employee chose, and the one their identity provider gives

Revision ID: 0016_languages
Revises: 0015_api_tokens
Create Date: 2026-12-04 14:30:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0016_languages'
down_revision = '0015_api_tokens'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('employees', schema=None) as batch_op:
        batch_op.add_column(sa.Column('language', sa.String(length=8), nullable=True, comment='the language the person chose in the portal (en, es, pt_BR); none: not chosen'))
        batch_op.add_column(sa.Column('idp_locale', sa.String(length=8), nullable=True, comment="the IdP's locale claim at the last sign-in, as one of the portal's languages"))


def downgrade():
    with op.batch_alter_table('employees', schema=None) as batch_op:
        batch_op.drop_column('idp_locale')
        batch_op.drop_column('language')
