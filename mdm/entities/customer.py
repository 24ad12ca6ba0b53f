"""Customers: Salesforce Accounts and SAP business partners (customer role) into golden customers."""

from mdm.entities.master_data import master_data_entity

ENTITY = master_data_entity(
    "customer",
    title="Salesforce Accounts <-> SAP Business Partners",
    help="Connections: synchub_crm and synchub_erp from the environment (e.g. `source var/sandbox.env`).",
    schedule="@hourly",
    erp_asset="erp/customer",  # synchub_order waits for it
)
