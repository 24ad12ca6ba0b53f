"""
### synchub_product: SAP products -> Salesforce Product2

SAP S/4HANA is the master of products (A_Product with its descriptions, sales data and base unit);
Salesforce holds a copy for selling. One run:

1. **open_run** records the run in SyncHub's store and decides incremental or full.
2. **extract_crm** and **extract_erp** (in parallel) read the Product2 records and SAP products changed
   since the watermark (LastChangeDateTime / SystemModstamp, with a look-back overlap).
3. **quality** quarantines products without a code or a name, with the reason.
4. **match** links each CRM product to its SAP product: the SAP number in `SAP_Product__c`, else the
   same product code (punctuation and case aside); copies inside the CRM join the same golden product.
5. **merge**: SAP's values win (`mappings/product.yaml`, asset `synchub_golden_product`).
6. **publish_erp** writes nothing to SAP: it reports the products that exist only in the CRM
   (`create: false` in the mapping). **publish_crm** creates the active SAP products the CRM lacks,
   updates the copies that differ (name and description in the configured language, family from the
   product group, unit of measure, active flag) and deactivates extra copies of one product (asset
   `synchub_crm_product`, which `synchub_price` waits for).
7. **close_run** (always runs) stores every step's stats and fails the run if a step failed.

Every 4 hours from 02:00 UTC; the run at 02:00 UTC (or a trigger with `{"full": true}`) re-reads every
key. The connections are the Airflow connections `synchub_crm` and `synchub_erp`; nothing is read at
parse time.
"""

from __future__ import annotations

from mdm.dag_wiring import entity_dag

synchub_product_dag = entity_dag("product", doc_md=__doc__)
