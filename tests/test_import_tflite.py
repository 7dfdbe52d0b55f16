"""The TFLite -> torchvision MobileNetV2 converter: on the shared ImageNet file when present, and its error paths.

Needs the optional extra (`pip install -e '.[tflite]'`; `make test` installs it).
"""
import importlib

import numpy as np
import pytest
import torch

from tests.conftest import ROOT

tflite = pytest.importorskip("tflite")
from dsah.models import import_tflite as conv  # noqa: E402
from dsah.models.mobilenet import use_tf_padding, uses_tf_padding  # noqa: E402

SHARED = ROOT.parent / "shared"
MODEL = SHARED / "models" / "mobilenet_v2_1.0_224_quant.tflite"
FLOWERS = SHARED / "data" / "flowers12" / "test"
needs_model = pytest.mark.skipif(not MODEL.is_file(), reason=f"{MODEL} not present")


@pytest.fixture(scope="module")
def converted():
    if not MODEL.is_file():
        pytest.skip(f"{MODEL} not present")
    return conv.convert(MODEL)


@needs_model
def test_state_dict_is_torchvisions_and_bn_is_the_folded_bias(converted, tmp_path):
    import torchvision

    state, meta = converted
    ref = torchvision.models.mobilenet_v2(weights=None, num_classes=1001)
    ref.load_state_dict(state, strict=True)  # the stock state dict, every key and shape
    assert meta["padding"] == "tf_same" and meta["input_mean"] == [0.5] * 3
    # In eval mode each BatchNorm is exactly "+ bias" of the folded convolution.
    ref.eval()
    stem, bn = ref.features[0][0], ref.features[0][1]
    x = torch.randn(2, 32, 5, 5)
    assert torch.allclose(bn(x), x + state["features.0.1.bias"].view(1, -1, 1, 1), atol=1e-6)
    assert stem.weight.shape == (32, 3, 3, 3)
    # Saved atomically, with the metadata entry; dsah's loader reads both.
    conv.save(state, meta, tmp_path / "w.pth")
    raw = torch.load(tmp_path / "w.pth", weights_only=True)
    assert raw["dsah_meta"]["source_sha256"] == meta["source_sha256"]


@needs_model
@pytest.mark.skipif(not FLOWERS.is_dir(), reason="../shared/data/flowers12 not present")
@pytest.mark.slow
def test_agreement_with_the_interpreter_on_real_images_and_the_padding_matters(converted):
    pytest.importorskip("ai_edge_litert")
    state, meta = converted
    images = conv.load_images(FLOWERS, 24)
    tf = conv.interpreter_outputs(MODEL, images)
    right = conv.agreement(*tf, *conv.torch_outputs(conv.network(state, meta), images, meta))
    assert right["images"] == 24
    assert right["top1_agreement"] >= 0.9 and right["logit_pearson_mean"] > 0.99, right
    assert right["feature_cosine_mean"] > 0.99
    # torchvision's symmetric padding with the same weights: measurably worse (NOTES.md: 77 % top-1).
    wrong_net = conv.network(state, {**meta, "padding": "torch"})
    assert not uses_tf_padding(wrong_net)
    wrong = conv.agreement(*tf, *conv.torch_outputs(wrong_net, images, meta))
    assert wrong["logit_pearson_mean"] < right["logit_pearson_mean"] - 0.01, (wrong, right)


def test_tf_same_padding_matches_explicit_asymmetric_padding():
    c = torch.nn.Conv2d(3, 4, 3, stride=2, padding=1)
    ref = torch.nn.Conv2d(3, 4, 3, stride=2, padding=0)
    ref.load_state_dict(c.state_dict())
    use_tf_padding(c)
    for size in (8, 9):  # even: pad 0 top/left, 1 bottom/right; odd: 1 on every side
        x = torch.randn(1, 3, size, size)
        pad = (0, 1, 0, 1) if size % 2 == 0 else (1, 1, 1, 1)
        assert torch.allclose(c(x), ref(torch.nn.functional.pad(x, pad)), atol=1e-6)
    assert list(c.state_dict()) == ["weight", "bias"]


def test_missing_file_names_where_the_model_is(tmp_path):
    with pytest.raises(conv.ConversionError, match=r"nowhere.tflite: no such file; the ImageNet MobileNetV2 is"):
        conv.convert(tmp_path / "nowhere.tflite")


def test_not_a_flatbuffer(tmp_path):
    (tmp_path / "x.tflite").write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(100))
    with pytest.raises(conv.ConversionError, match=r"x.tflite: not a TFLite flatbuffer"):
        conv.convert(tmp_path / "x.tflite")


@needs_model
def test_truncated_file(tmp_path):
    data = MODEL.read_bytes()
    (tmp_path / "cut.tflite").write_bytes(data[: len(data) // 3])
    with pytest.raises(conv.ConversionError, match=r"cut.tflite: truncated or corrupt TFLite file"):
        conv.convert(tmp_path / "cut.tflite")


def _tiny_tflite() -> bytes:
    """A valid TFLite flatbuffer of another architecture: one uint8 3x3 CONV_2D, 3 -> 4 channels."""
    import flatbuffers

    mod = {n: importlib.import_module(f"tflite.{n}") for n in
           ("Model", "SubGraph", "Tensor", "Buffer", "Operator", "OperatorCode", "Conv2DOptions",
            "QuantizationParameters")}
    b = flatbuffers.Builder(1024)

    def vec(start, items, prepend):
        start(b, len(items))
        for it in reversed(items):
            prepend(it)
        return b.EndVector()

    weights = np.full((4, 3, 3, 3), 130, dtype=np.uint8).tobytes()
    bias = np.zeros(4, dtype=np.int32).tobytes()
    buffers = []
    for raw in (b"", weights, bias):
        data = b.CreateByteVector(raw) if raw else None
        mod["Buffer"].BufferStart(b)
        if data is not None:
            mod["Buffer"].BufferAddData(b, data)
        buffers.append(mod["Buffer"].BufferEnd(b))

    def quant(scale, zero):
        s = vec(mod["QuantizationParameters"].QuantizationParametersStartScaleVector, [scale], b.PrependFloat32)
        z = vec(mod["QuantizationParameters"].QuantizationParametersStartZeroPointVector, [zero], b.PrependInt64)
        mod["QuantizationParameters"].QuantizationParametersStart(b)
        mod["QuantizationParameters"].QuantizationParametersAddScale(b, s)
        mod["QuantizationParameters"].QuantizationParametersAddZeroPoint(b, z)
        return mod["QuantizationParameters"].QuantizationParametersEnd(b)

    tensors = []
    for name, shape, ttype, buf, q in (("input", [1, 8, 8, 3], tflite.TensorType.UINT8, 0, (1 / 128, 128)),
                                       ("w", [4, 3, 3, 3], tflite.TensorType.UINT8, 1, (0.01, 128)),
                                       ("b", [4], tflite.TensorType.INT32, 2, (0.01 / 128, 0)),
                                       ("out", [1, 8, 8, 4], tflite.TensorType.UINT8, 0, (0.05, 0))):
        n = b.CreateString(name)
        sh = vec(mod["Tensor"].TensorStartShapeVector, shape, b.PrependInt32)
        qp = quant(*q)
        mod["Tensor"].TensorStart(b)
        mod["Tensor"].TensorAddShape(b, sh)
        mod["Tensor"].TensorAddType(b, ttype)
        mod["Tensor"].TensorAddBuffer(b, buf)
        mod["Tensor"].TensorAddName(b, n)
        mod["Tensor"].TensorAddQuantization(b, qp)
        tensors.append(mod["Tensor"].TensorEnd(b))
    mod["Conv2DOptions"].Conv2DOptionsStart(b)
    mod["Conv2DOptions"].Conv2DOptionsAddStrideH(b, 1)
    mod["Conv2DOptions"].Conv2DOptionsAddStrideW(b, 1)
    opts = mod["Conv2DOptions"].Conv2DOptionsEnd(b)
    ins = vec(mod["Operator"].OperatorStartInputsVector, [0, 1, 2], b.PrependInt32)
    outs = vec(mod["Operator"].OperatorStartOutputsVector, [3], b.PrependInt32)
    mod["Operator"].OperatorStart(b)
    mod["Operator"].OperatorAddOpcodeIndex(b, 0)
    mod["Operator"].OperatorAddInputs(b, ins)
    mod["Operator"].OperatorAddOutputs(b, outs)
    mod["Operator"].OperatorAddBuiltinOptionsType(b, tflite.BuiltinOptions.Conv2DOptions)
    mod["Operator"].OperatorAddBuiltinOptions(b, opts)
    op = mod["Operator"].OperatorEnd(b)
    tvec = vec(mod["SubGraph"].SubGraphStartTensorsVector, tensors, b.PrependUOffsetTRelative)
    ovec = vec(mod["SubGraph"].SubGraphStartOperatorsVector, [op], b.PrependUOffsetTRelative)
    gin = vec(mod["SubGraph"].SubGraphStartInputsVector, [0], b.PrependInt32)
    gout = vec(mod["SubGraph"].SubGraphStartOutputsVector, [3], b.PrependInt32)
    mod["SubGraph"].SubGraphStart(b)
    mod["SubGraph"].SubGraphAddTensors(b, tvec)
    mod["SubGraph"].SubGraphAddOperators(b, ovec)
    mod["SubGraph"].SubGraphAddInputs(b, gin)
    mod["SubGraph"].SubGraphAddOutputs(b, gout)
    graph = mod["SubGraph"].SubGraphEnd(b)
    mod["OperatorCode"].OperatorCodeStart(b)
    mod["OperatorCode"].OperatorCodeAddDeprecatedBuiltinCode(b, tflite.BuiltinOperator.CONV_2D)
    mod["OperatorCode"].OperatorCodeAddBuiltinCode(b, tflite.BuiltinOperator.CONV_2D)
    mod["OperatorCode"].OperatorCodeAddVersion(b, 1)
    code = mod["OperatorCode"].OperatorCodeEnd(b)
    codes = vec(mod["Model"].ModelStartOperatorCodesVector, [code], b.PrependUOffsetTRelative)
    graphs = vec(mod["Model"].ModelStartSubgraphsVector, [graph], b.PrependUOffsetTRelative)
    bufs = vec(mod["Model"].ModelStartBuffersVector, buffers, b.PrependUOffsetTRelative)
    mod["Model"].ModelStart(b)
    mod["Model"].ModelAddVersion(b, 3)
    mod["Model"].ModelAddOperatorCodes(b, codes)
    mod["Model"].ModelAddSubgraphs(b, graphs)
    mod["Model"].ModelAddBuffers(b, bufs)
    b.Finish(mod["Model"].ModelEnd(b), file_identifier=b"TFL3")
    return bytes(b.Output())


def test_another_architecture_is_refused(tmp_path):
    path = tmp_path / "tiny.tflite"
    path.write_bytes(_tiny_tflite())
    convs = conv.read(path)  # a valid file: its one convolution reads back dequantised, in torch layout
    assert len(convs) == 1 and convs[0].weight.shape == (4, 3, 3, 3)
    assert np.allclose(convs[0].weight, 0.02)  # (130 - 128) * 0.01
    with pytest.raises(conv.ConversionError, match=r"tiny.tflite: 1 convolutions \(1 CONV_2D, 0 DEPTHWISE_CONV_2D\), "
                                                   r"but a MobileNetV2-1.0 with 1001 classes has 53"):
        conv.convert(path)


def test_command_line_errors_are_one_line(tmp_path, capsys):
    from dsah.cli.import_tflite import main

    assert main([str(tmp_path / "none.tflite"), "--out", str(tmp_path / "w.pth")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "none.tflite: no such file" in err
    assert not (tmp_path / "w.pth").exists()


@needs_model
def test_backbone_from_converted_weights(converted, tmp_path, monkeypatch):
    """model.backbone: mobilenet_v2 with the converted file: TF padding, (0.5, 0.5) input, 1280-d features."""
    from dsah.models import HashingNetwork
    from dsah.models.weights import load_pretrained

    state, meta = converted
    conv.save(state, meta, tmp_path / "w.pth")
    monkeypatch.setenv("DSAH_WEIGHTS_MOBILENET_V2", str(tmp_path / "w.pth"))
    s, m = load_pretrained("mobilenet_v2")
    assert "dsah_meta" not in s and m["padding"] == "tf_same"
    net = HashingNetwork(12, "mobilenet_v2", pretrained=True, freeze_blocks=5)
    assert uses_tf_padding(net.backbone) and net.input_stats == ([0.5] * 3, [0.5] * 3)
    assert torch.equal(net.backbone.net.features[0][0].weight, state["features.0.0.weight"])
    net.train()
    # frozen: the first 5 blocks and every pretrained BatchNorm stay in eval mode, the blocks get no gradient
    assert not net.backbone.net.features[4].training and not net.backbone.net.features[10].conv[1][1].training
    assert net.backbone.net.features[10].training
    assert not any(p.requires_grad for p in net.backbone.net.features[:5].parameters())
    assert all(p.requires_grad for p in net.backbone.net.features[5:].parameters())
    assert net(torch.randn(2, 3, 96, 96)).shape == (2, 12)
