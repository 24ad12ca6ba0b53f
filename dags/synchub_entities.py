"""
### DAGs of the entities added through `SYNCHUB_ENTITY_MODULES`

An entity declared in a module of its own (`mdm.entities`: its kind, schedule, steps and replay) gets
its DAG here, built like the built-in ones (open_run -> extract_crm | extract_erp -> quality -> its
steps -> close_run), unless a file `dags/synchub_<entity>.py` of its own defines it. Without such
entities this file defines no DAG. Airflow's DAG processor reads nothing here at parse time but the
declarations.
"""

from __future__ import annotations

from pathlib import Path

from mdm.dag_wiring import entity_dag
from mdm.entities import entities

_OWN_FILES = {path.stem for path in Path(__file__).resolve().parent.glob("synchub_*.py")}

for _name, _declared in entities().items():
    if _declared.dag_id not in _OWN_FILES:
        globals()[f"{_declared.dag_id}_dag"] = entity_dag(_name)
