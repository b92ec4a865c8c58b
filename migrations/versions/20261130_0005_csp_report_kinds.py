"""CSP reports are kept as kinds (page, directive, blocked origin): a flag for payment pages, which are never
evicted, and a short sample

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-30 15:00:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('csp_report', schema=None) as batch_op:
        batch_op.add_column(sa.Column('payment_page', sa.Boolean(), server_default=sa.false(), nullable=False))
        batch_op.add_column(sa.Column('sample', sa.String(length=200), server_default='', nullable=False))
        batch_op.create_index('ix_csp_report_payment_page_last_seen', ['payment_page', 'last_seen'], unique=False)


def downgrade():
    with op.batch_alter_table('csp_report', schema=None) as batch_op:
        batch_op.drop_index('ix_csp_report_payment_page_last_seen')
        batch_op.drop_column('sample')
        batch_op.drop_column('payment_page')
