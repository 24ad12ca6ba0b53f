"""The seed data folders the Salesforce connector tests start their sandboxes from (one per module)."""

from __future__ import annotations

from dataclasses import replace

import pytest

from sandbox.seed import write_seed
from tests.connectors.salesforce.kit import SMALL


@pytest.fixture(scope="module")
def small(tmp_path_factory: pytest.TempPathFactory):
    """Seed data written once per module; each test loads it into fresh sandboxes (much faster)."""
    return write_seed(tmp_path_factory.mktemp("small"), SMALL)


@pytest.fixture(scope="module")
def paged(tmp_path_factory: pytest.TempPathFactory):
    """450 accounts: more than two REST pages of 200."""
    return write_seed(tmp_path_factory.mktemp("paged"), replace(SMALL, customers=450))
