"""the register states, per category, profiling and automated decisions with their logic and significance

Revision ID: 0021_profiling
Revises: 0020_objection_purposes
Create Date: 2026-12-04 15:40:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0021_profiling'
down_revision = '0020_objection_purposes'
branch_labels = None
depends_on = None

# Productivity analytics evaluates how a person works (GDPR Art. 4(4)): profiling, for the two
# categories the register says feed it; no category feeds a decision taken by automated means alone.
ANALYTICS_LOGIC = ("Your input events and the time spent per application and site are counted per day and week "
                   "and turned into productivity and ergonomics reports about you: how active you were, when, "
                   "and in which applications.")
ANALYTICS_SIGNIFICANCE = ("The reports evaluate how you work. No decision about you (pay, promotion, discipline, "
                          "dismissal) is taken from them by automated means alone: a person weighs them, and you "
                          "can give your view and contest the decision.")


def upgrade():
    with op.batch_alter_table('data_categories', schema=None) as batch_op:
        batch_op.add_column(sa.Column('profiling', sa.Boolean(), server_default=sa.false(), nullable=False))
        batch_op.add_column(sa.Column('automated_decisions', sa.Boolean(), server_default=sa.false(), nullable=False))
        batch_op.add_column(sa.Column('automated_logic', sa.Text(), nullable=True, comment='the logic involved'))
        batch_op.add_column(sa.Column('automated_significance', sa.Text(), nullable=True, comment='the significance and the envisaged consequences for the person'))
    categories = sa.table('data_categories', sa.column('key', sa.String), sa.column('profiling', sa.Boolean),
                          sa.column('automated_logic', sa.Text), sa.column('automated_significance', sa.Text))
    op.execute(categories.update().where(categories.c.key.in_(['input_events', 'app_activity']))
               .values(profiling=True, automated_logic=ANALYTICS_LOGIC, automated_significance=ANALYTICS_SIGNIFICANCE))
    with op.batch_alter_table('data_categories', schema=None) as batch_op:
        batch_op.create_check_constraint(batch_op.f('ck_data_categories_automated_explained'), "(profiling OR automated_decisions) = (automated_logic IS NOT NULL AND automated_significance IS NOT NULL)")


def downgrade():
    with op.batch_alter_table('data_categories', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('ck_data_categories_automated_explained'), type_='check')
        batch_op.drop_column('automated_significance')
        batch_op.drop_column('automated_logic')
        batch_op.drop_column('automated_decisions')
        batch_op.drop_column('profiling')
