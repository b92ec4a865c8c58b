"""manual capture: an order's authorisation time and captured amount; one settlement (capture or void) per order

Revision ID: 0010
Revises: 0008
Create Date: 2026-11-30 16:00:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0010'
down_revision = '0008'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('order', schema=None) as batch_op:
        batch_op.add_column(sa.Column('authorised_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('amount_captured', sa.Integer(), nullable=True))
    op.create_table(
        'settlement',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('order_id', sa.Integer(), nullable=False),
        sa.Column('action', sa.String(length=10), nullable=False),
        sa.Column('amount', sa.Integer(), nullable=False),
        sa.Column('idempotency_key', sa.String(length=255), nullable=False),
        sa.Column('status', sa.String(length=20), nullable=False),
        sa.Column('last_error', sa.Text(), nullable=True),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['order_id'], ['order.id'], name=op.f('fk_settlement_order_id_order')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_settlement')),
        sa.UniqueConstraint('idempotency_key', name=op.f('uq_settlement_idempotency_key')),
        sa.UniqueConstraint('order_id', name=op.f('uq_settlement_order_id')),
    )
    with op.batch_alter_table('settlement', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_settlement_status'), ['status'], unique=False)


def downgrade():
    with op.batch_alter_table('settlement', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_settlement_status'))
    op.drop_table('settlement')
    with op.batch_alter_table('order', schema=None) as batch_op:
        batch_op.drop_column('amount_captured')
        batch_op.drop_column('authorised_at')
