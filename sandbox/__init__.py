"""Salesforce and SAP S/4HANA sandboxes that speak the real wire protocols.

The unmodified simple-salesforce and pyodata clients talk to them over real HTTPS, so the
same SyncHub code runs against a real org or S/4HANA system by changing only the Airflow
connection. ``synchub sandbox up`` runs both; tests start them in-process (``runner``).
"""
