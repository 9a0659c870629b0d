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
