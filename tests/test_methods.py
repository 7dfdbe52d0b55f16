"""Contract test over every registered method (timm style), then each method's own checks.

Every method: one epoch trains on the fast profile's data with finite losses, every trainable parameter
receives a gradient, the codes have the right length and values, the same seed gives identical codes,
and the trained state round-trips.
"""
import math

import numpy as np
import pytest
import torch

from dsah import config, methods
from dsah.data.batches import Normalizer, box_masks
from dsah.metrics import sign_codes
from dsah.retrieval import encode
from dsah.train import train


def _one_epoch(params):
    return params.model_copy(update={"train": params.train.model_copy(update={"epochs": 1})})


def _quiet(_line):
    pass


def _train(params, name, data):
    """Train `name` as the pipeline does: a fitted method on the features of its trained features_from run."""
    cls = methods.get(name)
    features = train(params, cls.features_from, 12, data, log=_quiet).method if cls.fitted else None
    return train(params, name, 12, data, log=_quiet, features=features)


@pytest.mark.parametrize("name", sorted(methods.METHODS))
def test_method_contract(name, tiny_data):
    data, params = tiny_data
    params = _one_epoch(params)
    cls = methods.get(name)
    assert cls.name == name and cls.description and cls.__module__.startswith("dsah.methods.")
    # the method's module (a composed variant: its own docstring): what it is, its source
    doc = (cls.__doc__ if cls.base else __import__(cls.__module__, fromlist=["x"]).__doc__) or ""
    assert doc.startswith(f"`{name}`:"), f"{cls.__module__}: its docstring does not start by naming `{name}`"
    res = _train(params, name, data)
    assert res.history and all(math.isfinite(v) for row in res.history for v in row.values())
    m = res.method
    codes = encode(m, data.test, data.meta)
    assert codes.shape == (len(data.test), m.code_dim) and np.isfinite(codes).all()
    assert set(np.unique(sign_codes(codes))) <= {-1, 1}
    # the same seed, the same codes
    again = _train(params, name, data).method
    assert np.array_equal(encode(again, data.test, data.meta), codes)
    # the trained state round-trips into a fresh instance
    clone = cls(params, 12, torch.device("cpu"), num_classes=data.num_classes)
    clone.load_state_dict(m.state_dict())
    assert np.array_equal(encode(clone, data.test, data.meta), codes)


@pytest.mark.parametrize("name", sorted(methods.METHODS))
def test_declared_capabilities_hold(name, tiny_data):
    """What a method declares is what the pipeline and the report rely on instead of its name."""
    data, params = tiny_data
    cls = methods.get(name)
    m = cls(params, 12, torch.device("cpu"), num_classes=data.num_classes)
    for hook in ("saliency", "salient_image", "hashing_step", "attention_step"):  # the attention methods' interface
        assert callable(getattr(m, hook, None)) == cls.uses_attention, hook
    assert callable(getattr(m, "fit", None)) == cls.fitted
    if cls.fitted:
        assert cls.features_from in methods.METHODS and not methods.get(cls.features_from).fitted
    assert cls.search in ("hamming", "quantization") and (cls.search == "quantization") == (m.code_dim != 12)
    assert cls.reference is None or cls.reference in methods.METHODS
    assert not cls.oracle or (cls.reference and not cls.uses_attention)
    assert not cls.ablation or cls.uses_attention
    if cls.config_path():  # its own constants: validated under that section, read through `config`
        section = m.params
        for key in cls.config_path().split("."):
            section = getattr(section, key)
        assert isinstance(section, cls.config_owner().Config) and m.config is section
    assert methods.stage_of(name) in ("methods", "fitted_methods", "attention_methods")


@pytest.mark.parametrize("name", sorted(n for n, c in methods.METHODS.items()
                                        if not c.fitted and (c.base is None or n in ("dsah_greedyhash", "dsah_csq"))))
def test_every_trainable_parameter_gets_a_gradient(name, tiny_data):
    data, params = tiny_data
    torch.manual_seed(0)
    m = methods.get(name)(params, 12, torch.device("cpu"), num_classes=data.num_classes)
    norm = Normalizer(data.meta["mean"], data.meta["std"])
    x = norm(torch.from_numpy(np.array(data.train.images[:16])))
    y = torch.from_numpy(np.asarray(data.train.labels[:16])).long()
    box = box_masks(torch.from_numpy(np.asarray(data.train.boxes[:16])).float(), x.shape[-1])
    m.train(True)
    out = m.train_step(x, y, box)
    assert "loss" in out and all(math.isfinite(v) for v in out.values())
    for module_name, module in m.modules().items():
        for pname, p in module.named_parameters():
            if p.requires_grad:
                assert p.grad is not None and torch.isfinite(p.grad).all(), f"{module_name}.{pname}"


def test_registry_reaches_the_pipeline_and_the_config_names_every_method():
    plain = sorted(n for n in methods.METHODS if methods.stage_of(n) == "methods")
    raw = {"methods": plain, "fitted_methods": ["lsh", "itq"], "attention_methods": ["dsah", "dsah_nosal"]}
    assert config.parse(raw).all_methods == plain + ["lsh", "itq", "dsah", "dsah_nosal"]
    with pytest.raises(config.ConfigError) as err:
        config.parse({"methods": ["adsh"]})
    for name in plain:
        assert name in str(err.value)
    with pytest.raises(KeyError, match="unknown method 'adsh'; allowed: .*csq.*dsah.*itq"):
        methods.get("adsh")


def test_dpsh_is_hash_only_with_the_reference_theta_and_differs_above_twelve_bits_by_default(tiny_data):
    data, params = tiny_data
    p = _one_epoch(params)
    reference = p.model_copy(update={"train": p.train.model_copy(update={"theta_bits": None})})
    codes = {(name, bits, pp is reference): encode(train(pp, name, bits, data, log=_quiet).method, data.test, data.meta)
             for name in ("dpsh", "hash_only") for bits in (12, 24) for pp in (p, reference)}
    assert np.array_equal(codes["dpsh", 12, False], codes["hash_only", 12, False])  # theta_bits 12: same at 12 bits
    assert np.array_equal(codes["dpsh", 24, True], codes["hash_only", 24, True])  # theta_bits null: one method
    assert np.array_equal(codes["dpsh", 24, False], codes["dpsh", 24, True])  # dpsh ignores theta_bits
    assert not np.array_equal(codes["dpsh", 24, False], codes["hash_only", 24, False])
