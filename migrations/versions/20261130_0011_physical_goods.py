"""physical goods: an order's breakdown (discount, shipping, tax) and address; discount codes and their uses

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-30 21:30:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0011'
down_revision = '0010'
branch_labels = None
depends_on = None

def order_columns():
    return [
        sa.Column('subtotal', sa.Integer(), nullable=True),
        sa.Column('discount_code', sa.String(length=32), nullable=True),
        sa.Column('discount_amount', sa.Integer(), server_default='0', nullable=False),
        sa.Column('shipping_method', sa.String(length=20), nullable=True),
        sa.Column('shipping_amount', sa.Integer(), server_default='0', nullable=False),
        sa.Column('tax_amount', sa.Integer(), server_default='0', nullable=False),
        sa.Column('tax_inclusive', sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column('tax_calculation_id', sa.String(length=255), nullable=True),
        sa.Column('tax_transaction_id', sa.String(length=255), nullable=True),
        sa.Column('shipping_name', sa.String(length=200), nullable=True),
        sa.Column('shipping_address', sa.Text(), nullable=True),
        sa.Column('shipping_phone', sa.String(length=40), nullable=True),
    ]


def upgrade():
    with op.batch_alter_table('order', schema=None) as batch_op:
        for column in order_columns():
            batch_op.add_column(column)
    with op.batch_alter_table('order_line', schema=None) as batch_op:
        batch_op.add_column(sa.Column('discount_amount', sa.Integer(), server_default='0', nullable=False))
        batch_op.add_column(sa.Column('tax_amount', sa.Integer(), server_default='0', nullable=False))
    with op.batch_alter_table('refund', schema=None) as batch_op:
        batch_op.add_column(sa.Column('tax_reversal_id', sa.String(length=255), nullable=True))
    op.create_table(
        'discount_code',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('code', sa.String(length=32), nullable=False),
        sa.Column('kind', sa.String(length=10), nullable=False),
        sa.Column('value', sa.Integer(), nullable=False),
        sa.Column('currency', sa.String(length=3), nullable=False),
        sa.Column('min_subtotal', sa.Integer(), nullable=False),
        sa.Column('starts_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('ends_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('max_uses', sa.Integer(), nullable=True),
        sa.Column('uses', sa.Integer(), nullable=False),
        sa.Column('disabled', sa.Boolean(), nullable=False),
        sa.Column('created_by', sa.String(length=64), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_discount_code')),
        sa.UniqueConstraint('code', name=op.f('uq_discount_code_code')),
    )
    op.create_table(
        'discount_redemption',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('code_id', sa.Integer(), nullable=False),
        sa.Column('order_id', sa.Integer(), nullable=False),
        sa.Column('status', sa.String(length=10), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['code_id'], ['discount_code.id'],
                                name=op.f('fk_discount_redemption_code_id_discount_code')),
        sa.ForeignKeyConstraint(['order_id'], ['order.id'], name=op.f('fk_discount_redemption_order_id_order')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_discount_redemption')),
        sa.UniqueConstraint('order_id', name=op.f('uq_discount_redemption_order_id')),
    )
    with op.batch_alter_table('discount_redemption', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_discount_redemption_code_id'), ['code_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_discount_redemption_status'), ['status'], unique=False)


def downgrade():
    op.drop_table('discount_redemption')
    op.drop_table('discount_code')
    with op.batch_alter_table('refund', schema=None) as batch_op:
        batch_op.drop_column('tax_reversal_id')
    with op.batch_alter_table('order_line', schema=None) as batch_op:
        batch_op.drop_column('tax_amount')
        batch_op.drop_column('discount_amount')
    with op.batch_alter_table('order', schema=None) as batch_op:
        for column in reversed(order_columns()):
            batch_op.drop_column(column.name)
