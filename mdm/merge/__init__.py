"""Survivorship: build a golden record field by field from the records of one real-world thing.

Rules per field (or field group) come from the ``survivorship:`` section of the mapping and are
applied in order, each narrowing the candidates, until one remains:

- ``source_priority: [sap, salesforce]`` - keep the candidates of the first system that has a value;
- ``most_recent`` - keep the candidates with the newest source stamp;
- ``most_complete`` - keep the candidates with the most non-empty values in the group;
- ``not_null`` - drop candidates without a value;
- ``valid: <validator>`` - drop candidates whose value fails a named validator (e.g. ``vat``).

A group (``fields: [street, house_number, postal_code, city, country]``) wins as a whole, so an
address is never stitched together from two records. Ties fall to the system order of the first
``source_priority`` rule, then to the smallest key, so the result is deterministic. Every golden
value keeps its provenance: the winning system, record, rule and value ("why this value won").
"""

from mdm.config.survivorship import SurvivorshipConfig, SurvivorshipError
from mdm.merge.survivorship import Candidate, FieldProvenance, MergeResult, merge

__all__ = ["Candidate", "FieldProvenance", "MergeResult", "SurvivorshipConfig", "SurvivorshipError", "merge"]
