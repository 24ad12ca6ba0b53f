"""Stewardship: the review queue (match decisions), the error queue (dead letters) and the audit log.

Plain functions over the store, shared by the CLI (``synchub review|errors``) and the admin view; every
action a person takes is recorded in ``audit_log`` with who took it.
"""
