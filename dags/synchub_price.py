"""
### synchub_price: SAP sales price conditions -> Salesforce PricebookEntry

SAP is the master of prices: the sales price condition records of the configured condition type
(default PR00) per sales organisation, distribution channel, currency and validity. One run:

1. **open_run** records the run in SyncHub's store.
2. **extract_erp** reads every condition record (they carry no change stamp: a full snapshot each
   time, staged with a hash per record, so only changed records cost anything) and **extract_crm**
   the PricebookEntry records changed since the watermark, in parallel.
3. **quality** runs the price suites (`mdm/quality/suites/price.yaml`: ISO 4217 currency, unit price
   above 0, valid from on or before valid to, unique keys); failing records are quarantined, and more
   than `quality.max_failed_share` of a batch failing stops the run before anything is written.
4. **sync_crm** derives the price valid today (the date is configurable) per product and pricebook
   (`pricing:` in `mappings/price.yaml`: the standard pricebook and the per-currency or per-sales-org
   ones), creates the missing entries and pricebooks, updates the prices that differ and deactivates
   the entries whose price expired or was removed in SAP (asset `synchub_crm_price`).
5. **close_run** (always runs) stores every step's stats and fails the run if a step failed.

Daily at 00:15 UTC (prices become valid by the day), and after each `synchub_product` run that
published products to the CRM (asset `synchub_crm_product`): new products get their prices at once.
The connections are the Airflow connections `synchub_crm` and `synchub_erp`; nothing is read at parse
time.
"""

from __future__ import annotations

from mdm.dag_wiring import entity_dag

synchub_price_dag = entity_dag("price", doc_md=__doc__)
