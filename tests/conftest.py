"""Fixtures shared by several test modules."""

import pytest


@pytest.fixture
def dask_scheduler():
    """The address of a small in-process Dask cluster (one worker, two threads, local TCP)."""
    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(
        n_workers=1,
        threads_per_worker=2,
        processes=False,
        protocol="tcp",
        host="127.0.0.1",
        dashboard_address=":0",
    ) as cluster:
        yield cluster.scheduler_address
