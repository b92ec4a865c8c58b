"""disputes beside orders; a failed refund keeps Stripe's failure reason

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-30 15:00:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('refund', schema=None) as batch_op:
        batch_op.add_column(sa.Column('failure_reason', sa.String(length=100), nullable=True))
    op.create_table(
        'dispute',
        sa.Column('id', sa.String(length=255), nullable=False),
        sa.Column('order_id', sa.Integer(), nullable=False),
        sa.Column('status', sa.String(length=20), nullable=False),
        sa.Column('stripe_status', sa.String(length=40), nullable=False),
        sa.Column('amount', sa.Integer(), nullable=False),
        sa.Column('currency', sa.String(length=3), nullable=False),
        sa.Column('reason', sa.String(length=60), nullable=False),
        sa.Column('evidence_due_by', sa.DateTime(timezone=True), nullable=True),
        sa.Column('funds_withdrawn', sa.Integer(), nullable=False),
        sa.Column('balance_transactions', sa.Integer(), nullable=False),
        sa.Column('evidence_text', sa.Text(), nullable=True),
        sa.Column('evidence_sent_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['order_id'], ['order.id'], name=op.f('fk_dispute_order_id_order')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_dispute')),
    )
    with op.batch_alter_table('dispute', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_dispute_order_id'), ['order_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_dispute_status'), ['status'], unique=False)


def downgrade():
    with op.batch_alter_table('dispute', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_dispute_status'))
        batch_op.drop_index(batch_op.f('ix_dispute_order_id'))
    op.drop_table('dispute')
    with op.batch_alter_table('refund', schema=None) as batch_op:
        batch_op.drop_column('failure_reason')
