"""
### synchub_customer: golden customers between Salesforce and SAP S/4HANA

One run reconciles the CRM's Accounts and the ERP's Business Partners into golden customers and
writes them back, so that both systems agree:

1. **open_run** records the run in SyncHub's store (`run` table) and decides incremental or full.
2. **extract_crm** and **extract_erp** (in parallel) read what changed since the watermark and
   stage it with its lineage (raw payload, hash, source stamp).
3. **quality** checks completeness; incomplete records are quarantined with a reason.
4. **match** links records: cross-reference, then deterministic rules (VAT, ERP number, DUNS), then
   fuzzy rules; the doubtful band goes to the review queue.
5. **merge** applies field survivorship and versions the golden records (asset
   `synchub_golden_customer`).
6. **publish_erp**, then **publish_crm**, write only the differences and capture new keys
   (publish_erp updates the asset `synchub_erp_customer`, which `synchub_order` waits for).
   The ERP goes first so that customers created there in this run reach the CRM with their new SAP
   number in the same run; one after the other, so a rerun after a crash has only one half-written
   side to recover.
7. **close_run** (always runs) stores every step's stats and errors, and fails the run if a step failed.

Every step is idempotent: clear and rerun any task. Each returns a small stats dict (XCom).

**Full reconciliation.** SAP address-only changes do not move the partner's change stamp, so an
incremental run can miss them. Trigger with `{"full": true}` to re-read every key and hash (and
recompute every golden record); the scheduled run at 02:00 UTC does so every day.

The connections are the Airflow connections `synchub_crm` and `synchub_erp`; the store is
`SYNCHUB_DATABASE_URL` (default: SQLite `var/synchub.db`). Nothing is read at parse time.
"""

from __future__ import annotations

from mdm.dag_wiring import FULL_RECONCILIATION_HOUR_UTC, entity_dag, wants_full_reconciliation

__all__ = ["FULL_RECONCILIATION_HOUR_UTC", "synchub_customer_dag", "wants_full_reconciliation"]

synchub_customer_dag = entity_dag("customer", doc_md=__doc__)
