"""Connectors: one module per system, on Airflow connections, with one small surface.

Every connector offers ``extract_changed(entity, since)`` (an iterator of pages),
``extract_all_keys(entity)`` (for full reconciliation and delete detection) and
``write_batch(entity, records)`` (one outcome per record). Errors follow ``connectors.errors``.
"""
