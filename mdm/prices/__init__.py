"""Prices: SAP sales price conditions -> Salesforce PricebookEntry in every configured pricebook (issue 5).

SAP is the master of list prices. A price is the condition record of the configured type (PR00) valid
on one day (``pricing.valid_on``, default today), per material, sales organisation, distribution
channel and currency. Condition records carry no change stamp, so ``extract('price', 'sap',
full=True)`` reads the whole snapshot and stages it by payload hash (an unchanged record costs nothing,
a record gone from SAP is marked deleted), and ``extract('price', 'salesforce')`` stages the pricebook
entries the same way. ``sync_prices`` then diffs the two on the store alone:

1. the valid price per (material, sales org, channel, currency) from the live staged conditions
   (``valid_prices``: where validity windows overlap, the one that started last wins, as in SAP);
2. each material's Product2 Ids through the product cross-reference (SAP product -> golden product ->
   Salesforce products); a material with no Product2 yet is reported and tried again next run;
3. the configured pricebooks: the standard one and the others, created when missing (Pricebook2
   upserted on SyncHub_Id__c). Pricebook2 is read each run (a handful of rows) so a pricebook someone
   deleted or renamed is noticed; the records are staged as source records of entity ``pricebook``;
4. the wanted entry per pricebook, product (and currency), diffed against the staged entries: only
   differences are written, standard-pricebook entries first (Salesforce wants a standard price before
   a custom one). Entries of SAP-priced products whose price is no longer valid (expired, removed or
   deletion-flagged in SAP) are deactivated, never deleted; a product with a custom price but no valid
   standard price gets the inactive standard entry Salesforce requires.

A failed record never stops the others: it is counted, listed in ``errors`` and kept in the error queue
(``dead_letter``, entity price, system salesforce; record key: the entry's SyncHub id, or the pricebook
key for a pricebook); a later run that writes it, or finds it already right, resolves it. Errors that
stop every record (authentication, API budget, configuration) end the step.
"""

from __future__ import annotations

from mdm.config.pricing import PricingConfig
from mdm.prices.conditions import OPEN_END, Condition, PriceKey, condition_from_values, entry_id, valid_prices
from mdm.prices.model import PriceSyncError
from mdm.prices.sync import PriceSync, sync_prices

__all__ = [
    "PricingConfig",
    "Condition",
    "OPEN_END",
    "PriceKey",
    "PriceSync",
    "PriceSyncError",
    "condition_from_values",
    "entry_id",
    "sync_prices",
    "valid_prices",
]
