"""The seed data folder the SAP connector tests start their sandboxes from (one per module)."""

from __future__ import annotations

from pathlib import Path

import pytest

from sandbox.datadir import write_data_dir
from sandbox.seed import generate
from tests.connectors.sap.kit import SMALL


@pytest.fixture(scope="module")
def small(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The SMALL seed as a data folder: generated once, loaded by each test's fresh sandboxes."""
    directory = tmp_path_factory.mktemp("sap-small")
    write_data_dir(directory, generate(SMALL)[0])
    return directory
