"""One SAP sandbox per test module (and one that pages every two records), with pyodata clients."""

from __future__ import annotations

from collections.abc import Iterator

import pyodata
import pytest

from tests.sandbox.sap_server.kit import BP_SRV, SO_SRV, Sandbox, start_sap_sandbox


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sandbox]:
    box = start_sap_sandbox(tmp_path_factory, page_size=1000)
    yield box
    box.stop()


@pytest.fixture(scope="module")
def paging_sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sandbox]:
    box = start_sap_sandbox(tmp_path_factory, page_size=2)
    yield box
    box.stop()


@pytest.fixture
def bp(sandbox: Sandbox) -> pyodata.Client:
    return sandbox.client(BP_SRV)


@pytest.fixture
def so(sandbox: Sandbox) -> pyodata.Client:
    return sandbox.client(SO_SRV)
