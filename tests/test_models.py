"""Contract tests: every backbone and code length gives (N, K) codes in (-1, 1)."""
import pytest
import torch

from dsah.models import HashingNetwork
from dsah.models.weights import load_pretrained

BITS = [12, 24, 32, 48, 7]


@pytest.mark.parametrize("bits", BITS)
@pytest.mark.parametrize("norm", ["batch", "group", "none"])
@pytest.mark.parametrize("depth", [2, 3, 4, 5])
@pytest.mark.parametrize("pool", ["avg", "max"])
def test_small_cnn_code_shapes(bits, norm, depth, pool):
    net = HashingNetwork(bits, "small_cnn", width=8, norm=norm, depth=depth, pool=pool).eval()
    u = net(torch.randn(3, 3, 32, 32))
    assert u.shape == (3, bits)
    assert (u.abs() < 1).all()


@pytest.mark.parametrize("depth, rf", [(2, 8), (3, 18), (4, 38)])
def test_small_cnn_receptive_field(depth, rf):
    """The documented receptive field: a pixel change reaches the centre feature only within it."""
    net = HashingNetwork(12, "small_cnn", width=8, norm="none", depth=depth).backbone.features.eval()
    torch.manual_seed(0)
    x = torch.randn(1, 3, 96, 96, requires_grad=True)
    out = net(x)
    c = out.shape[-1] // 2
    out[0, :, c, c].sum().backward()
    cols = (x.grad.abs().sum(dim=(0, 1, 2)) > 0).nonzero().flatten()
    assert int(cols.max() - cols.min() + 1) == rf


@pytest.mark.parametrize("backbone, size", [("resnet18", 64), ("resnet50", 64), ("vgg16", 32), ("alexnet", 64)])
def test_torchvision_backbones(backbone, size):
    net = HashingNetwork(12, backbone).eval()
    with torch.no_grad():
        u = net(torch.randn(2, 3, size, size))
    assert u.shape == (2, 12) and (u.abs() <= 1).all()  # tanh may round to 1 in float32


def test_bits_must_be_positive():
    with pytest.raises(ValueError, match="bits=0"):
        HashingNetwork(0)


def test_small_cnn_has_no_pretrained_weights():
    with pytest.raises(ValueError, match="small_cnn has no pretrained weights"):
        HashingNetwork(12, "small_cnn", pretrained=True)


def test_missing_pretrained_weights_say_what_to_do(tmp_path, monkeypatch):
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path))
    monkeypatch.delenv("DSAH_WEIGHTS_RESNET18", raising=False)
    with pytest.raises(FileNotFoundError) as e:
        load_pretrained("resnet18")
    msg = str(e.value)
    assert "resnet18-f37072fd.pth" in msg and str(tmp_path / "checkpoints") in msg
    assert "DSAH_WEIGHTS_RESNET18" in msg and "model.pretrained: false" in msg


def test_pretrained_weights_from_an_explicit_file(tmp_path, monkeypatch):
    import torchvision

    ref = torchvision.models.resnet18(weights=None)
    torch.save(ref.state_dict(), tmp_path / "w.pth")
    monkeypatch.setenv("DSAH_WEIGHTS_RESNET18", str(tmp_path / "w.pth"))
    net = HashingNetwork(12, "resnet18", pretrained=True)
    assert torch.equal(net.backbone.net.conv1.weight, ref.conv1.weight)


def test_weights_load_tensors_only_and_name_a_bad_file(tmp_path, monkeypatch):
    import os

    # a pickled reference to an arbitrary callable: refused by weights_only
    torch.save({"conv1.weight": os.getcwd}, tmp_path / "evil.pth")
    monkeypatch.setenv("DSAH_WEIGHTS_RESNET18", str(tmp_path / "evil.pth"))
    with pytest.raises(ValueError, match=r"evil.pth: not a loadable resnet18 state dict"):
        load_pretrained("resnet18")
    (tmp_path / "cut.pth").write_bytes(b"PK\x03\x04 truncated")
    monkeypatch.setenv("DSAH_WEIGHTS_RESNET18", str(tmp_path / "cut.pth"))
    with pytest.raises(ValueError, match=r"cut.pth: not a loadable resnet18 state dict"):
        load_pretrained("resnet18")


def test_flop_count_of_a_training_step(fast_params):
    from dsah.cli.gpu_estimate import step_flops

    base_train, base_enc = step_flops(fast_params, "hash_only", 12)
    dsah_train, dsah_enc = step_flops(fast_params, "dsah", 12)
    assert 0 < base_enc < base_train < dsah_train  # a step costs more than encoding; DSaH runs two networks
