"""back-channel logout: the IdP's session id of each SSO session (a keyed hash) and the logout tokens already taken

Revision ID: 0022_backchannel_logout
Revises: 0021_profiling
Create Date: 2026-12-04 17:00:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0022_backchannel_logout'
down_revision = '0021_profiling'
branch_labels = None
depends_on = None


def upgrade():
    # Only a column and an index: SQLite adds both in place, so auth_sessions is not rebuilt (a
    # rebuild would cascade to the email codes that refer to it).
    with op.batch_alter_table('auth_sessions', schema=None) as batch_op:
        batch_op.add_column(sa.Column('idp_session_digest', sa.String(length=64), nullable=True, comment="HMAC of the issuer and the IdP's session id (the ID token's sid claim), which a back-channel logout names; empty when the IdP sent none"))
        batch_op.create_index('ix_auth_sessions_idp_session_digest', ['idp_session_digest'], unique=False)
    op.create_table('logout_tokens_seen',
        sa.Column('digest', sa.String(length=64), nullable=False, comment="SHA-256 of the issuer and the token's jti"),
        sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('digest', name=op.f('pk_logout_tokens_seen'))
    )
    with op.batch_alter_table('logout_tokens_seen', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_logout_tokens_seen_expires_at'), ['expires_at'], unique=False)


def downgrade():
    with op.batch_alter_table('logout_tokens_seen', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_logout_tokens_seen_expires_at'))
    op.drop_table('logout_tokens_seen')
    with op.batch_alter_table('auth_sessions', schema=None) as batch_op:
        batch_op.drop_index('ix_auth_sessions_idp_session_digest')
        batch_op.drop_column('idp_session_digest')
