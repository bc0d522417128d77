"""the register states, per category, its transfers (destination and safeguard) and its DPIA

Revision ID: 0023_transfers_dpia
Revises: 0022_backchannel_logout
Create Date: 2026-12-04 17:00:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0023_transfers_dpia'
down_revision = '0022_backchannel_logout'
branch_labels = None
depends_on = None

# Where each category's recipients receive it (ISO 3166 country) and the safeguard it goes under
# (portal.jurisdictions.transfers.SAFEGUARDS: "none" for a destination inside the EU/EEA). The
# demo company hosts in the EU (Ireland); its AI Research team is in the United States, at a
# company certified under the EU-US Data Privacy Framework; Security Operations run a follow-the-sun
# desk in India under standard contractual clauses; the model governance board sits in the United
# Kingdom, under the Commission's adequacy decision. Frozen here: migrations never import live code.
HOSTING = {"recipient": "Cloud hosting provider (processor)", "destination": "IE", "safeguard": "none"}
AI_RESEARCH = {"recipient": "AI Research", "destination": "US", "safeguard": "dpf"}
SECURITY = {"recipient": "Security Operations", "destination": "IN", "safeguard": "sccs"}
BOARD = {"recipient": "Model governance board", "destination": "GB", "safeguard": "adequacy"}
TRANSFERS = {
    "input_events": [HOSTING, AI_RESEARCH],
    "app_activity": [HOSTING, SECURITY, AI_RESEARCH],
    "screenshots": [HOSTING, SECURITY, AI_RESEARCH],
    "ai_training_use": [AI_RESEARCH, BOARD],
}
# GDPR Art. 35: systematic monitoring of employees needs an impact assessment (and is on the
# AEPD's list under Art. 35(4)); the demo's references to its assessments.
DPIA = {
    "input_events": "DPIA-2025-07 Workplace activity monitoring, approved 15 September 2025",
    "app_activity": "DPIA-2025-07 Workplace activity monitoring, approved 15 September 2025",
    "screenshots": "DPIA-2025-08 Screen capture, approved 15 September 2025",
    "ai_training_use": "DPIA-2025-11 AI training on activity data, approved 28 November 2025",
}


def upgrade():
    with op.batch_alter_table('data_categories', schema=None) as batch_op:
        batch_op.add_column(sa.Column('transfers', sa.JSON(), nullable=True,
                                      comment='[{recipient, destination (ISO 3166), safeguard}]'))
        batch_op.add_column(sa.Column('dpia_reference', sa.Text(), nullable=True,
                                      comment='the data protection impact assessment (GDPR Art. 35)'))
    categories = sa.table('data_categories', sa.column('key', sa.String), sa.column('transfers', sa.JSON),
                          sa.column('dpia_reference', sa.Text))
    for key, transfers in TRANSFERS.items():
        op.execute(categories.update().where(categories.c.key == key)
                   .values(transfers=transfers, dpia_reference=DPIA[key]))


def downgrade():
    with op.batch_alter_table('data_categories', schema=None) as batch_op:
        batch_op.drop_column('dpia_reference')
        batch_op.drop_column('transfers')
