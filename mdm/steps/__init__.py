"""The steps every entity runs on the store (``mdm.pipeline`` is their public face):

- ``extract``: changed records of one system staged and mapped to canonical records (``stage_payloads``:
  the same for payloads already in hand);
- ``quality``: the expectation suites, quarantining what fails;
- ``link``: the match step, and the golden ids and xref rows it leaves;
- ``merge``: survivorship into versioned golden records.

The writes to the systems are planned by ``mdm.publish``, ``mdm.prices`` and ``mdm.orders``.
"""
