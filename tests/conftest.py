import shutil
from pathlib import Path

import pytest
import torch

from dsah import config

ROOT = Path(__file__).resolve().parents[1]

torch.set_num_threads(2)


@pytest.fixture
def fast_params():
    """The fast profile, as the notebooks' nbval defaults use it."""
    return config.load(ROOT / "profiles" / "fast.yaml")


@pytest.fixture(scope="session")
def tiny_synthetic(tmp_path_factory):
    """A tiny synthetic dataset generated once per test session, and its parameters."""
    from dsah.data import synthetic

    params = config.load(ROOT / "profiles" / "fast.yaml")
    root = tmp_path_factory.mktemp("synthetic") / "cub"
    synthetic.generate(root, params.data.synthetic)
    return root, params


@pytest.fixture
def copy_of(tmp_path):
    def _copy(src: Path) -> Path:
        dst = tmp_path / src.name
        shutil.copytree(src, dst)
        return dst

    return _copy


@pytest.fixture(scope="session")
def tiny_data(tiny_synthetic):
    """The fast profile's prepared data (in memory) and its parameters."""
    from dsah.data import cub, prepared

    root, params = tiny_synthetic
    return prepared.from_records(cub.load(root), params.data.image_size, "synthetic"), params
