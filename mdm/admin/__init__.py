"""The admin view: a small server-rendered web app over the store for data stewards.

One FastAPI app (``mdm.admin.app.create_app``) serves the dashboard, the review queue, golden records
with "why this value won", and the error queue. It runs inside Airflow's API server through the plugin
in ``mdm.admin.airflow_plugin`` (Airflow's login decides who acts) or standalone with ``synchub ui``.
"""
