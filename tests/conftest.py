from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
OFFLINE_MNIST = REPO.parent / "shared" / "datasets" / "mnist-offline"


@pytest.fixture(scope="session")
def offline_mnist() -> Path:
    """The real offline MNIST root shipped beside the checkout (../shared/datasets)."""
    if not (OFFLINE_MNIST / "MNIST" / "raw").exists():
        pytest.skip(f"offline MNIST not found at {OFFLINE_MNIST}")
    return OFFLINE_MNIST


def smoke_args(torchvision_root: Path) -> list[str]:
    """The smoke-scale configuration of the test runs, local and on the cluster (same arguments, same tables)."""
    return ["--configfile", "config/scales/smoke.yaml", "--config", f"torchvision_root={torchvision_root}",
            "synthetic_cifar10=True"]


@pytest.fixture(scope="session")
def smoke_run(tmp_path_factory, offline_mnist):
    """One complete smoke-scale run from real offline MNIST on the local executor, as CI does.

    Shared by the workflow tests and the cluster test (whose tables must equal this run's)."""
    from test_workflow import _copy_checkout, snakemake  # the workflow tests' helpers

    workdir = _copy_checkout(tmp_path_factory.mktemp("smoke"))
    smoke = smoke_args(offline_mnist)
    snakemake(workdir, *smoke)
    return workdir, smoke
