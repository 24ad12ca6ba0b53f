"""Products: SAP is their master; the CRM's Product2 records are matched to them and kept as copies."""

from mdm.entities import Entity, master_data_steps, replay_publish

ENTITY = Entity(
    name="product",
    kind="mastered",
    title="SAP products -> Salesforce Product2",
    help="Products only in the CRM are reported, not created in SAP (`create: false` in the mapping).",
    steps=master_data_steps("product", crm_asset="crm/product"),
    replay=replay_publish("product"),
    schedule="0 2-23/4 * * *",
    outputs=(
        "golden records: synchub golden export --entity product > golden_product.csv",
        "cross-reference: synchub xref export --entity product > xref_product.csv",
    ),
)
