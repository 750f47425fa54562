"""Fixtures shared by several test modules."""

import os
import shlex
import shutil
import subprocess

import pytest


@pytest.fixture(scope="session")
def bound_by_permissions():
    """A function that makes a command line one that runs without the power to write
    where permissions forbid it: as it is for a user other than root; for root, through
    capsh with the capabilities that override permissions dropped (skipped where that
    cannot be done)."""
    if os.geteuid() != 0:
        return list
    capsh = shutil.which("capsh")
    if capsh is None:
        pytest.skip("running as root, and no capsh to drop the override of permissions")

    def wrap(argv):
        return [capsh, "--drop=cap_dac_override,cap_dac_read_search", "--", "-c", shlex.join(map(str, argv))]

    if subprocess.run(wrap(["true"]), capture_output=True, check=False).returncode != 0:
        pytest.skip("capsh cannot drop capabilities here")
    return wrap


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
