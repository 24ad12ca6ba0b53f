"""Customers: Salesforce Accounts and SAP business partners (customer role) into golden customers."""

from mdm.entities import Entity, master_data_steps, replay_publish

ENTITY = Entity(
    name="customer",
    kind="mastered",
    title="Salesforce Accounts <-> SAP Business Partners",
    help="Connections: synchub_crm and synchub_erp from the environment (e.g. `source var/sandbox.env`).",
    steps=master_data_steps("customer", erp_asset="erp/customer"),
    replay=replay_publish("customer"),
    schedule="@hourly",
    outputs=(
        "golden records: synchub golden export --entity customer > golden_customer.csv",
        "cross-reference: synchub xref export --entity customer > xref_customer.csv",
    ),
)
