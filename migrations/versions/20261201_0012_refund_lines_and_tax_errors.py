"""refund lines (what of each order line and of shipping a refund gave back); why an order's tax or a refund's tax
reversal could not be recorded

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-01 09:00:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0012'
down_revision = '0011'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('order', schema=None) as batch_op:
        batch_op.add_column(sa.Column('tax_error', sa.String(length=200), nullable=True))
    with op.batch_alter_table('refund', schema=None) as batch_op:
        batch_op.add_column(sa.Column('tax_error', sa.String(length=200), nullable=True))
    op.create_table(
        'refund_line',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('refund_id', sa.Integer(), nullable=False),
        sa.Column('order_line_id', sa.Integer(), nullable=True),
        sa.Column('quantity', sa.Integer(), nullable=False),
        sa.Column('amount', sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(['refund_id'], ['refund.id'], name=op.f('fk_refund_line_refund_id_refund')),
        sa.ForeignKeyConstraint(['order_line_id'], ['order_line.id'],
                                name=op.f('fk_refund_line_order_line_id_order_line')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_refund_line')),
    )
    with op.batch_alter_table('refund_line', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_refund_line_refund_id'), ['refund_id'], unique=False)


def downgrade():
    op.drop_table('refund_line')
    with op.batch_alter_table('refund', schema=None) as batch_op:
        batch_op.drop_column('tax_error')
    with op.batch_alter_table('order', schema=None) as batch_op:
        batch_op.drop_column('tax_error')
