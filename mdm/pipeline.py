"""The pipeline steps of an entity, as the DAGs, the CLI, the benchmarks and the tests call them:
extract (and stage), quality, match (and link), merge. Their code is in ``mdm.steps``; the writes to the
systems are ``mdm.publish.publish``, ``mdm.prices.sync_prices`` and ``mdm.orders``.

Each step is idempotent (kill it, rerun it: same store), returns its ``StepStats`` (``mdm.stats``) for
the DAG to log and keep, and takes optional ``sessions`` (default: the store named by
``SYNCHUB_DATABASE_URL``) and ``run_id`` (default: the step records a run of its own).

- ``extract``: pages of changed records from a connector -> staged raw payloads (hash, stamp,
  lineage) -> canonical records, committed per page; only then does the watermark move, and never
  past a record not yet stored nor past the extraction's start. ``full=True`` also reconciles
  deletes against the system's live key set.
- ``quality``: the Great Expectations gate (``mdm.quality``); failing records are quarantined with
  the failed expectation as the reason (kept out of match and publish) and released once they pass
  again; a batch failing beyond the mapping's threshold stops the run.
- ``match``: records carrying an existing golden id are linked to it, the match engine clusters
  the rest, and every cluster ends in one golden record with an xref row per member.
- ``merge``: survivorship over each changed golden record's live members; a new version only
  when the values change; golden records without a live member are retired.
"""

from mdm.config import load_entity_mapping
from mdm.steps.extract import ExtractError, extract, stage_payloads, values_hash
from mdm.steps.link import match
from mdm.steps.merge import merge, merge_golden_records
from mdm.steps.quality import quality

__all__ = [
    "ExtractError",
    "extract",
    "load_entity_mapping",
    "match",
    "merge",
    "merge_golden_records",
    "quality",
    "stage_payloads",
    "values_hash",
]
