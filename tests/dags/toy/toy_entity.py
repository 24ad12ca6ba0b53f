"""The toy entity: one module is all an entity needs besides its mapping and its quality suite."""

from mdm.entities import Entity, master_data_steps, replay_publish

ENTITY = Entity(
    name="toy",
    kind="mastered",
    title="Salesforce Account names <-> SAP partner names",
    help="A toy entity of the registry test.",
    steps=master_data_steps("toy", erp_asset="erp/toy"),
    replay=replay_publish("toy"),
    schedule="@daily",
    needs=("customer",),
    outputs=("golden records: synchub golden export --entity toy",),
)
