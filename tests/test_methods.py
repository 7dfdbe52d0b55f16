"""Contract test: every registered method trains a step, encodes, and round-trips its state."""
import pytest
import torch

from dsah import methods
from dsah.data.batches import box_masks


@pytest.mark.parametrize("name", sorted(methods.METHODS))
def test_method_contract(name, fast_params):
    torch.manual_seed(0)
    cls = methods.get(name)
    assert cls.name == name and cls.description
    m = cls(fast_params, 12, torch.device("cpu"))
    x = torch.randn(8, 3, 32, 32)
    y = torch.arange(8) // 2
    box = box_masks(torch.tensor([[4.0, 4.0, 20.0, 16.0]] * 8), 32)
    m.train(True)
    out = m.train_step(x, y, box)
    assert "loss" in out and all(isinstance(v, float) and v == v for v in out.values())
    assert isinstance(m.end_epoch(), dict)
    m.train(False)
    codes = m.encode(x, box)
    assert codes.shape == (8, 12) and (codes.abs() < 1).all()
    assert hasattr(m, "saliency") == cls.uses_attention
    clone = cls(fast_params, 12, torch.device("cpu"))
    clone.load_state_dict(m.state_dict())
    clone.train(False)
    assert torch.equal(clone.encode(x, box), codes)


def test_unknown_method_names_the_choices():
    with pytest.raises(KeyError, match="allowed: dsah, dsah_nosal, hash_only, oracle_mask"):
        methods.get("dtq")
