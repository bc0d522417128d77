"""service tokens for the integrations API

Revision ID: 0015_api_tokens
Revises: 0014_former_path
Create Date: 2026-12-04 14:10:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0015_api_tokens'
down_revision = '0014_former_path'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('api_tokens',
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.Column('name', sa.String(length=80), nullable=False),
    sa.Column('scopes', sa.JSON(), nullable=False, comment='portal.security.Scope values'),
    sa.Column('token_digest', sa.String(length=64), nullable=False, comment='hex SHA-256 of the token'),
    sa.Column('created_by_id', sa.String(length=32), nullable=True, comment='the admin who made it; null from the shell'),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('(CURRENT_TIMESTAMP)'), nullable=False),
    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('last_used_at', sa.DateTime(timezone=True), nullable=True, comment='to the minute'),
    sa.Column('revoked_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('revoked_by_id', sa.String(length=32), nullable=True),
    sa.ForeignKeyConstraint(['created_by_id'], ['employees.id'], name=op.f('fk_api_tokens_created_by_id_employees'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['revoked_by_id'], ['employees.id'], name=op.f('fk_api_tokens_revoked_by_id_employees'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_api_tokens')),
    sa.UniqueConstraint('token_digest', name=op.f('uq_api_tokens_token_digest'))
    )


def downgrade():
    op.drop_table('api_tokens')
