"""Products: SAP is their master; the CRM's Product2 records are matched to them and kept as copies."""

from mdm.entities.master_data import master_data_entity

ENTITY = master_data_entity(
    "product",
    title="SAP products -> Salesforce Product2",
    help="Products only in the CRM are reported, not created in SAP (`create: false` in the mapping).",
    schedule="0 2-23/4 * * *",
    crm_asset="crm/product",  # synchub_price waits for it
)
