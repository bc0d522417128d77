"""stored evidence packs and their expiring share links

Revision ID: 0007_evidence
Revises: 0006_audit_nodes
Create Date: 2026-11-23 15:30:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0007_evidence'
down_revision = '0006_audit_nodes'
branch_labels = None
depends_on = None

# Frozen here (migrations never import live model code): portal.evidence.models.Authority.
AUTHORITIES = ('aepd', 'cppa', 'sic', 'anpd', 'other-eu', 'other')


def upgrade():
    op.create_table('evidence_packs',
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.Column('request_id', sa.String(length=32), nullable=False),
    sa.Column('created_by_id', sa.String(length=32), nullable=True),
    sa.Column('created_by_role', sa.String(length=16), nullable=False, comment='dpo, admin, auditor or system, when made'),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('(CURRENT_TIMESTAMP)'), nullable=False),
    sa.Column('filename', sa.String(length=120), nullable=False, comment='the name it is downloaded under'),
    sa.Column('artifact_key', sa.String(length=200), nullable=False, comment='the file, relative to the artifact directory'),
    sa.Column('sha256', sa.String(length=64), nullable=False, comment='hex SHA-256 of the whole ZIP'),
    sa.Column('size', sa.BigInteger(), nullable=False, comment='bytes'),
    sa.Column('head_id', sa.Integer(), nullable=False, comment='the signed head its proofs are against'),
    sa.Column('tree_size', sa.Integer(), nullable=False, comment="the head's tree size"),
    sa.Column('entries', sa.Integer(), nullable=False, comment='audit entries in the pack'),
    sa.CheckConstraint('size > 0 AND tree_size >= 0 AND entries >= 0', name=op.f('ck_evidence_packs_counts_valid')),
    sa.CheckConstraint('length(sha256) = 64', name=op.f('ck_evidence_packs_sha256_is_hex_digest')),
    sa.ForeignKeyConstraint(['created_by_id'], ['employees.id'], name=op.f('fk_evidence_packs_created_by_id_employees'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['head_id'], ['tree_heads.id'], name=op.f('fk_evidence_packs_head_id_tree_heads')),
    sa.ForeignKeyConstraint(['request_id'], ['data_requests.id'], name=op.f('fk_evidence_packs_request_id_data_requests'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_evidence_packs'))
    )
    with op.batch_alter_table('evidence_packs', schema=None) as batch_op:
        batch_op.create_index('ix_evidence_packs_request_created', ['request_id', 'created_at'], unique=False)

    authorities = ', '.join(f"'{a}'" for a in AUTHORITIES)
    op.create_table('evidence_shares',
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.Column('pack_id', sa.String(length=32), nullable=False),
    sa.Column('token_digest', sa.String(length=64), nullable=False, comment="hex SHA-256 of the link's token; the token is never stored"),
    sa.Column('authority', sa.String(length=16), nullable=False, comment='whom the link was made for'),
    sa.Column('created_by_id', sa.String(length=32), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('(CURRENT_TIMESTAMP)'), nullable=False),
    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('revoked_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('revoked_by_id', sa.String(length=32), nullable=True),
    sa.Column('access_count', sa.Integer(), nullable=False, comment='views of the page and downloads'),
    sa.Column('last_access_at', sa.DateTime(timezone=True), nullable=True),
    sa.CheckConstraint('access_count >= 0', name=op.f('ck_evidence_shares_access_count_valid')),
    sa.CheckConstraint(f'authority IN ({authorities})', name=op.f('ck_evidence_shares_authority_valid')),
    sa.CheckConstraint('expires_at > created_at', name=op.f('ck_evidence_shares_expires_after_creation')),
    sa.CheckConstraint('revoked_at IS NULL OR revoked_at >= created_at', name=op.f('ck_evidence_shares_revoked_after_creation')),
    sa.ForeignKeyConstraint(['created_by_id'], ['employees.id'], name=op.f('fk_evidence_shares_created_by_id_employees'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['pack_id'], ['evidence_packs.id'], name=op.f('fk_evidence_shares_pack_id_evidence_packs'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['revoked_by_id'], ['employees.id'], name=op.f('fk_evidence_shares_revoked_by_id_employees'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_evidence_shares')),
    sa.UniqueConstraint('token_digest', name=op.f('uq_evidence_shares_token_digest'))
    )
    with op.batch_alter_table('evidence_shares', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_evidence_shares_pack_id'), ['pack_id'], unique=False)


def downgrade():
    with op.batch_alter_table('evidence_shares', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_evidence_shares_pack_id'))

    op.drop_table('evidence_shares')
    with op.batch_alter_table('evidence_packs', schema=None) as batch_op:
        batch_op.drop_index('ix_evidence_packs_request_created')

    op.drop_table('evidence_packs')
