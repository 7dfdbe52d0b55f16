"""The attention plug-in: DSaH's attention network and saliency loss over any Hamming base method.
(The contract test of tests/test_methods.py covers every composed variant as a registered method.)"""
import pytest
import torch

from dsah import config, methods
from dsah.methods.dsah import Attention
from dsah.methods.hash_only import HashOnly

BASES = sorted(n for n, c in methods.METHODS.items()
               if isinstance(c, type) and issubclass(c, HashOnly) and c.base is None and not c.uses_attention
               and not c.oracle and c.search == "hamming" and n != "hash_only")


def _batch(n=8, size=32):
    g = torch.Generator().manual_seed(0)
    return torch.randn(n, 3, size, size, generator=g), torch.arange(n) // 2, torch.ones(n, 1, size, size)


def test_every_hamming_base_gets_the_plug_in_its_ablation_and_its_oracle():
    assert {"csq", "orthohash", "greedyhash", "hashnet", "dsh"} <= set(BASES)
    for b in BASES:
        att, nosal, oracle = (methods.get(f"{p}_{b}") for p in ("dsah", "dsah_nosal", "oracle_mask"))
        assert att.uses_attention and att.reference == b and att.base == b and not att.ablation
        assert nosal.uses_attention and nosal.ablation and nosal.saliency_loss == "none"
        assert oracle.oracle and not oracle.uses_attention and methods.oracle_of(b) == f"oracle_mask_{b}"
        assert methods.stage_of(f"dsah_{b}") == "attention_methods" and methods.stage_of(f"oracle_mask_{b}") == "methods"
        assert att.config_path() == methods.get(b).config_path()  # the base's own constants, read as the base reads them
    assert methods.oracle_of("hash_only") == "oracle_mask" and methods.get("dsah").reference == "hash_only"


def test_a_quantization_base_is_refused_in_one_line():
    with pytest.raises(config.ConfigError) as err:
        config.parse({"attention_methods": ["dsah_dtq"]})
    msg = str(err.value)
    assert msg.count("\n") == 0 and "no dsah over dtq: dtq searches by quantization" in msg
    with pytest.raises(KeyError, match="dsah_nosal_dtq: no dsah_nosal over dtq"):
        methods.get("dsah_nosal_dtq")


@pytest.mark.parametrize("base", ["csq", "greedyhash", "dsh"])
def test_step_1_is_the_base_loss_on_both_views_and_step_2_moves_only_the_attention(base, fast_params):
    torch.manual_seed(0)
    m = methods.get(f"dsah_{base}")(fast_params, 12, torch.device("cpu"), num_classes=4)
    x, y, box = _batch()
    zu, zv = m.net(x), m.net(x.flip(-1))
    terms = m.pair_terms(zu, zv, y)
    assert torch.allclose(terms["loss"], m.loss(zu, y)["loss"] + m.loss(zv, y)["loss"])
    own = {k: {p: t.clone() for p, t in sd.items()} for k, sd in m.state_dict().items() if k != "attention"}
    before = {k: v.detach().clone() for k, v in m.attention.state_dict().items()}
    m.attention_step(x, y, box)
    assert any(not torch.equal(before[k], v) for k, v in m.attention.state_dict().items())
    for k, state in own.items():  # the base's network and its own modules (centres, classifier) untouched
        assert all(torch.equal(state[p], v) for p, v in m.state_dict()[k].items()), k
    out = m.train_step(x, y, box)
    assert {"loss", "saliency"} <= set(out) and all(torch.isfinite(torch.tensor(v)) for v in out.values())


def test_the_ablation_trains_the_attention_with_the_base_loss_on_the_salient_view(fast_params):
    torch.manual_seed(0)
    m = methods.get("dsah_nosal_csq")(fast_params, 12, torch.device("cpu"), num_classes=4)
    x, y, _ = _batch()
    zv = m.net(x)
    assert torch.equal(m.saliency_term(None, zv, y, None), m.loss(zv, y)["loss"])


def test_dsah_is_the_plug_in_over_hash_only_with_the_same_loss(fast_params):
    torch.manual_seed(0)
    m = methods.get("dsah")(fast_params, 12, torch.device("cpu"))
    assert isinstance(m, Attention) and isinstance(m, HashOnly)
    x, y, _ = _batch()
    u, v = m.net(x), m.net(x.flip(-1))
    generic = Attention.pair_terms(m, u, v, y)["loss"]  # the base's loss on each view, summed
    assert torch.allclose(m.pair_terms(u, v, y)["loss"], generic, rtol=1e-6)  # DSaH's own order of the same sum
