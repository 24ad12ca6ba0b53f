"""The toy entity: one module is all an entity needs besides its mapping and its quality suite."""

from mdm.entities.master_data import master_data_entity

ENTITY = master_data_entity(
    "toy",
    title="Salesforce Account names <-> SAP partner names",
    help="A toy entity of the registry test.",
    schedule="@daily",
    erp_asset="erp/toy",
    needs=("customer",),
)
