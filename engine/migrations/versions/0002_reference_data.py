"""reference data: products, special sales, contracts, parts, fees, technicians, settings

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-27 10:00:00
"""

from alembic import op
import sqlalchemy as sa
import engine.models
import engine.reference


revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None

KINDS = ('product', 'special_sale', 'contract', 'part', 'fee', 'technician', 'setting')


def upgrade() -> None:
    op.create_table('ref_product',
    sa.Column('model', sa.String(length=64), nullable=False),
    sa.Column('category', sa.String(length=64), nullable=False),
    sa.Column('name', sa.String(length=256), nullable=False),
    sa.Column('warranty_months', sa.Integer(), nullable=False),
    sa.Column('parts_warranty_months', sa.Integer(), nullable=True),
    sa.Column('labour_warranty_months', sa.Integer(), nullable=True),
    sa.PrimaryKeyConstraint('model')
    )
    op.create_table('ref_special_sale',
    sa.Column('serial_no', sa.String(length=64), nullable=False),
    sa.Column('product_model', sa.String(length=64), nullable=False),
    sa.Column('reason', sa.String(length=256), nullable=False),
    sa.PrimaryKeyConstraint('serial_no')
    )
    op.create_table('ref_contract',
    sa.Column('contract_no', sa.String(length=64), nullable=False),
    sa.Column('customer_name', sa.String(length=256), nullable=False),
    sa.Column('customer_phone', sa.String(length=32), nullable=False),
    sa.Column('phone_digits', sa.String(length=32), nullable=False),
    sa.Column('serial_no', sa.String(length=64), nullable=False),
    sa.Column('start_date', sa.Date(), nullable=False),
    sa.Column('end_date', sa.Date(), nullable=False),
    sa.Column('covers_labour', sa.Boolean(), nullable=False),
    sa.Column('covers_parts', sa.Boolean(), nullable=False),
    sa.PrimaryKeyConstraint('contract_no')
    )
    with op.batch_alter_table('ref_contract', schema=None) as batch_op:
        batch_op.create_index('ix_ref_contract_phone', ['phone_digits'], unique=False)
        batch_op.create_index('ix_ref_contract_serial', ['serial_no'], unique=False)

    op.create_table('ref_part',
    sa.Column('code', sa.String(length=64), nullable=False),
    sa.Column('name', sa.String(length=256), nullable=False),
    sa.Column('price', engine.reference.Money(), nullable=False),
    sa.Column('stock', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('code')
    )
    op.create_table('ref_fee_item',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('order_type', sa.String(length=32), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('code', sa.String(length=64), nullable=False),
    sa.Column('name', sa.String(length=256), nullable=False),
    sa.Column('unit', sa.String(length=32), nullable=False),
    sa.Column('unit_price', engine.reference.Money(), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('ref_fee_item', schema=None) as batch_op:
        batch_op.create_index('ix_ref_fee_item_key', ['order_type', 'kind', 'code'], unique=True)

    op.create_table('ref_technician',
    sa.Column('technician_id', sa.String(length=64), nullable=False),
    sa.Column('name', sa.String(length=256), nullable=False),
    sa.Column('phone', sa.String(length=32), nullable=False),
    sa.Column('station', sa.String(length=256), nullable=False),
    sa.Column('zone', sa.String(length=16), nullable=False),
    sa.Column('skills', sa.Text(), nullable=False),
    sa.PrimaryKeyConstraint('technician_id')
    )
    op.create_table('ref_setting',
    sa.Column('key', sa.String(length=64), nullable=False),
    sa.Column('value', sa.JSON(), nullable=False),
    sa.Column('updated_at', engine.models.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_by', sa.String(length=64), nullable=False),
    sa.PrimaryKeyConstraint('key')
    )
    revisions = op.create_table('ref_revision',
    sa.Column('kind', sa.String(length=32), nullable=False),
    sa.Column('revision', sa.Integer(), nullable=False),
    sa.Column('updated_at', engine.models.UTCDateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('kind')
    )
    # one row per kind from the start: writers lock it to take turns (see engine.reference)
    op.bulk_insert(revisions, [{'kind': kind, 'revision': 0, 'updated_at': None} for kind in KINDS])


def downgrade() -> None:
    op.drop_table('ref_revision')
    op.drop_table('ref_setting')
    op.drop_table('ref_technician')
    with op.batch_alter_table('ref_fee_item', schema=None) as batch_op:
        batch_op.drop_index('ix_ref_fee_item_key')

    op.drop_table('ref_fee_item')
    op.drop_table('ref_part')
    with op.batch_alter_table('ref_contract', schema=None) as batch_op:
        batch_op.drop_index('ix_ref_contract_serial')
        batch_op.drop_index('ix_ref_contract_phone')

    op.drop_table('ref_contract')
    op.drop_table('ref_special_sale')
    op.drop_table('ref_product')
