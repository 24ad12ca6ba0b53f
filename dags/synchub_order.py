"""
### synchub_order: activated CRM orders -> SAP sales orders, SAP's number and status -> CRM

Orders are transactional, not mastered: nothing is matched or merged. One run:

1. **open_run** records the run in SyncHub's store.
2. **extract_crm** (Order with its OrderItems) and **extract_erp** (A_SalesOrder with its items), in
   parallel, stage what changed since the watermark.
3. **quality** runs the order suites (`mdm/quality/suites/order.yaml`: the customer named, ISO 4217
   currency, amounts not negative, unique keys; an activated order's account and products known to
   SyncHub, reported); failing records are quarantined (not sent), and more than
   `quality.max_failed_share` of a batch failing stops the run before anything is sent.
4. **push_erp** sends every CRM order whose status is in the category `Activated` (StatusCode;
   `orders.send_when_status_category` in `mappings/order.yaml`; labels are each org's own) that SAP
   does not have yet as a sales order, by deep insert: sold-to party and materials through the
   customer and product cross-reference. Idempotent on ExternalDocumentID
   (the CRM order Id): a rerun never creates a second SAP order. An order whose customer or product
   is not in SAP yet waits, with the reason (`synchub orders list`), and goes through in the first
   run after the master data arrives; an order SAP rejects goes to the error queue with SAP's message
   (asset `synchub_erp_order`).
5. **status_crm** writes the SAP order number and its processing, delivery and billing status to the
   CRM order where they differ.
6. **close_run** (always runs) stores every step's stats and fails the run if a step failed.

Every 15 minutes, and as soon as `synchub_customer` has published customers to SAP or
`synchub_product` has merged products (assets `synchub_erp_customer`, `synchub_golden_product`), so a
waiting order goes through right after its master data. The scheduled run at 02:00 UTC (or a trigger
with `{"full": true}`) re-reads every order: a SAP status change that did not move the order's change
stamp reaches the CRM then at the latest. The connections are the Airflow connections `synchub_crm`
and `synchub_erp`; nothing is read at parse time.
"""

from __future__ import annotations

from mdm.dag_wiring import entity_dag

synchub_order_dag = entity_dag("order", doc_md=__doc__)
