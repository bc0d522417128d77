"""former employees: personal e-mail, code sessions and one-time codes

Revision ID: 0014_former_path
Revises: 0013_web_sessions
Create Date: 2026-12-04 14:40:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0014_former_path'
down_revision = '0013_web_sessions'
branch_labels = None
depends_on = None

# Frozen here (migrations never import live model code): portal.auth.models.SignInMethod, CodePurpose.
METHODS = ('sso', 'email_code')
PURPOSES = ('sign_in', 'step_up')


def _in(column, values):
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


def upgrade():
    with op.batch_alter_table('employees', schema=None) as batch_op:
        batch_op.alter_column('left_at', existing_type=sa.DateTime(timezone=True), existing_nullable=True,
                              comment='the leave date (midnight UTC) of a former employee')
        batch_op.add_column(sa.Column('personal_email_index', sa.String(length=64), nullable=True,
                                      comment='HMAC of the personal e-mail a former employee verifies with'))
        batch_op.add_column(sa.Column('personal_email_sealed', sa.LargeBinary(), nullable=True))
        batch_op.create_unique_constraint(batch_op.f('uq_employees_personal_email_index'), ['personal_email_index'])

    with op.batch_alter_table('auth_sessions', schema=None) as batch_op:
        batch_op.add_column(sa.Column('method', sa.String(length=16), server_default='sso', nullable=False,
                                      comment="sso, or email_code: a former employee's limited session, auth_time is the last code's"))
        batch_op.create_check_constraint('method_valid', _in('method', METHODS))

    op.create_table('email_codes',
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.Column('address_index', sa.String(length=64), nullable=False, comment='HMAC of the address asked about'),
    sa.Column('employee_id', sa.String(length=32), nullable=True),
    sa.Column('session_id', sa.String(length=64), nullable=True, comment='step-up: the session the code refreshes'),
    sa.Column('purpose', sa.String(length=16), nullable=False),
    sa.Column('code_hash', sa.String(length=64), nullable=False, comment='HMAC of the row id and the code'),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('tries', sa.Integer(), server_default='0', nullable=False),
    sa.Column('used_at', sa.DateTime(timezone=True), nullable=True),
    sa.CheckConstraint(_in('purpose', PURPOSES), name=op.f('ck_email_codes_purpose_valid')),
    sa.CheckConstraint('tries >= 0', name=op.f('ck_email_codes_tries_not_negative')),
    sa.ForeignKeyConstraint(['employee_id'], ['employees.id'], name=op.f('fk_email_codes_employee_id_employees'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['session_id'], ['auth_sessions.id'], name=op.f('fk_email_codes_session_id_auth_sessions'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_email_codes'))
    )
    with op.batch_alter_table('email_codes', schema=None) as batch_op:
        batch_op.create_index('ix_email_codes_address_created', ['address_index', 'created_at'], unique=False)


def downgrade():
    with op.batch_alter_table('email_codes', schema=None) as batch_op:
        batch_op.drop_index('ix_email_codes_address_created')
    op.drop_table('email_codes')
    with op.batch_alter_table('auth_sessions', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('ck_auth_sessions_method_valid'), type_='check')
        batch_op.drop_column('method')
    with op.batch_alter_table('employees', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('uq_employees_personal_email_index'), type_='unique')
        batch_op.drop_column('personal_email_sealed')
        batch_op.drop_column('personal_email_index')
        batch_op.alter_column('left_at', existing_type=sa.DateTime(timezone=True), existing_nullable=True, comment=None)
