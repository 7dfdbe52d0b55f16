"""Convert a TFLite ImageNet MobileNetV2 into a torchvision state dict, and check it against the interpreter.

    python -m dsah.cli.import_tflite ../shared/models/mobilenet_v2_1.0_224_quant.tflite \\
        --out data/weights/mobilenet_v2.pth --images ../shared/data/flowers12/test

Needs the optional extra: `pip install -e '.[tflite]'` (the `tflite` flatbuffer parser, and the
`ai-edge-litert` interpreter for the agreement check). What the conversion does, in order
(../shared/models/NOTES.md has why):

1. parse the flatbuffer; the 53 convolutions (CONV_2D, DEPTHWISE_CONV_2D) in graph order pair one to
   one with the `nn.Conv2d` modules of `torchvision.models.mobilenet_v2(num_classes=1001)` in module
   order (the last, the 1x1 logits convolution, with `classifier[1]`); shape, groups and stride are
   checked for every pair, so a file of another architecture is refused;
2. dequantise: w = (q - zero_point) * scale (per tensor or per channel), int32 biases times their scale;
   OHWI -> OIHW, depthwise 1HWC -> C1HW;
3. the BatchNorm that TF folded into each convolution is represented exactly: the folded bias goes
   into the BatchNorm after the convolution, with weight 1, running mean 0 and running variance
   1 - eps, which in eval mode is "+ bias" and keeps the stock state dict (it loads with strict=True);
4. TF's "SAME" padding of the stride-2 convolutions is behaviour, not a weight: the file records it
   (`dsah_meta`, below) and `dsah.models.mobilenet.use_tf_padding` applies it.

The output is torchvision's state dict plus one entry, `dsah_meta` (padding, input normalisation
(x - 0.5) / 0.5, classes, source checksum, agreement figures). dsah reads it through
`dsah.models.weights.load_pretrained`; for plain torchvision, `sd.pop("dsah_meta")` first, then
`use_tf_padding(model)`.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from dsah.models import mobilenet

SHARED_FILE = "../shared/models/mobilenet_v2_1.0_224_quant.tflite"
NUM_CLASSES = 1001  # index 0 = background, then the 1000 ImageNet classes
INPUT_SIZE = 224
IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".ppm")


class ConversionError(ValueError):
    """A file that cannot be converted; the message names it and says why."""


@dataclass(frozen=True)
class TFConv:
    name: str
    depthwise: bool
    weight: np.ndarray  # float32, torch layout (O, I/groups, kH, kW)
    bias: np.ndarray  # float32 (O,)
    stride: int


def _tflite():
    try:
        import tflite
    except ImportError:
        raise ConversionError("the TFLite parser is not installed: pip install -e '.[tflite]' "
                              "(or pip install tflite ai-edge-litert)") from None
    return tflite


def _dequantize(tensor, raw: bytes, dtype) -> np.ndarray:
    data = np.frombuffer(raw, dtype=dtype).astype(np.float64).reshape(tensor.ShapeAsNumpy())
    q = tensor.Quantization()
    if q is None or q.ScaleLength() == 0:
        return data.astype(np.float32)
    scale, zero = q.ScaleAsNumpy().astype(np.float64), q.ZeroPointAsNumpy().astype(np.float64)
    if scale.size > 1:  # per channel along QuantizedDimension
        shape = [1] * data.ndim
        shape[q.QuantizedDimension()] = -1
        scale, zero = scale.reshape(shape), zero.reshape(shape)
    return ((data - zero) * scale).astype(np.float32)


def read(path: str | Path) -> list[TFConv]:
    """The convolutions of a TFLite file in graph order, dequantised, in torch layout."""
    path = Path(path)
    if not path.is_file():
        raise ConversionError(f"{path}: no such file; the ImageNet MobileNetV2 is {SHARED_FILE} "
                              "(mobilenet_v2_1.0_224_quant.tflite)")
    buf = path.read_bytes()
    if len(buf) < 8 or buf[4:8] != b"TFL3":
        raise ConversionError(f"{path}: not a TFLite flatbuffer (no TFL3 identifier at byte 4)")
    tflite = _tflite()
    dtypes = {tflite.TensorType.UINT8: np.uint8, tflite.TensorType.INT8: np.int8,
              tflite.TensorType.INT32: np.int32, tflite.TensorType.FLOAT32: np.float32}
    conv_ops = {tflite.BuiltinOperator.CONV_2D: False, tflite.BuiltinOperator.DEPTHWISE_CONV_2D: True}
    try:
        model = tflite.Model.GetRootAsModel(buf, 0)
        graph = model.Subgraphs(0)
        convs = []
        for i in range(graph.OperatorsLength()):
            op = graph.Operators(i)
            code = model.OperatorCodes(op.OpcodeIndex())
            kind = max(code.BuiltinCode(), code.DeprecatedBuiltinCode())  # old files: the deprecated field
            if kind not in conv_ops:
                continue
            ins = op.InputsAsNumpy()
            wt, bt = graph.Tensors(ins[1]), graph.Tensors(ins[2])
            raw_w, raw_b = model.Buffers(wt.Buffer()).DataAsNumpy(), model.Buffers(bt.Buffer()).DataAsNumpy()
            if not isinstance(raw_w, np.ndarray) or not isinstance(raw_b, np.ndarray):
                raise ConversionError(f"{path}: operator {i} ({wt.Name().decode()}) has no weight data")
            w = _dequantize(wt, raw_w.tobytes(), dtypes[wt.Type()])
            b = _dequantize(bt, raw_b.tobytes(), dtypes[bt.Type()])
            opts = (tflite.DepthwiseConv2DOptions if conv_ops[kind] else tflite.Conv2DOptions)()
            table = op.BuiltinOptions()
            opts.Init(table.Bytes, table.Pos)
            if opts.StrideH() != opts.StrideW():
                raise ConversionError(f"{path}: operator {i} has strides {opts.StrideH()}x{opts.StrideW()}")
            # OHWI -> OIHW; depthwise 1HWC -> C1HW
            w = w.transpose(3, 0, 1, 2) if conv_ops[kind] else w.transpose(0, 3, 1, 2)
            convs.append(TFConv(wt.Name().decode(errors="replace"), conv_ops[kind], np.ascontiguousarray(w), b,
                                opts.StrideH()))
    except ConversionError:
        raise
    except Exception as err:  # flatbuffers reads past the end of a cut file: struct.error, IndexError, ...
        raise ConversionError(f"{path}: truncated or corrupt TFLite file ({len(buf):,} bytes; "
                              f"{type(err).__name__}: {err})") from None
    return convs


def convert(path: str | Path) -> tuple[dict, dict]:
    """(torchvision state dict, meta) of a TFLite MobileNetV2-1.0 file; ConversionError if it is not one."""
    convs = read(path)
    net = mobilenet.build(NUM_CLASSES)
    pairs = mobilenet.conv_bn_pairs(net)
    linear = net.classifier[1]
    if len(convs) != len(pairs) + 1:
        kinds = sum(c.depthwise for c in convs)
        raise ConversionError(
            f"{path}: {len(convs)} convolutions ({len(convs) - kinds} CONV_2D, {kinds} DEPTHWISE_CONV_2D), but "
            f"a MobileNetV2-1.0 with {NUM_CLASSES} classes has {len(pairs) + 1} (36 + 17): another architecture")
    state = net.state_dict()
    for tf, (name, conv, bn) in zip(convs, pairs):
        want = (tuple(conv.weight.shape), conv.groups > 1, conv.stride[0])
        got = (tf.weight.shape, tf.depthwise, tf.stride)
        if want != got:
            raise ConversionError(f"{path}: {tf.name} has (shape, depthwise, stride) {got} where MobileNetV2's "
                                  f"{name} needs {want}: another architecture")
        bn_name = next(n for n, m in net.named_modules() if m is bn)
        state[f"{name}.weight"] = torch.from_numpy(tf.weight)
        state[f"{bn_name}.weight"] = torch.ones(len(tf.bias))
        state[f"{bn_name}.bias"] = torch.from_numpy(tf.bias)
        state[f"{bn_name}.running_mean"] = torch.zeros(len(tf.bias))
        state[f"{bn_name}.running_var"] = torch.full((len(tf.bias),), 1.0 - bn.eps)
    logits = convs[-1]
    if logits.weight.shape != (NUM_CLASSES, linear.in_features, 1, 1):
        raise ConversionError(f"{path}: the last convolution {logits.name} has shape {logits.weight.shape}, not "
                              f"the 1x1 logits ({NUM_CLASSES}, {linear.in_features}): another architecture")
    state["classifier.1.weight"] = torch.from_numpy(logits.weight[:, :, 0, 0].copy())
    state["classifier.1.bias"] = torch.from_numpy(logits.bias)
    meta = {"architecture": "mobilenet_v2", "padding": "tf_same", "num_classes": NUM_CLASSES,
            "input_mean": [0.5, 0.5, 0.5], "input_std": [0.5, 0.5, 0.5],  # the float network sees (x-128)/128
            "source": Path(path).name, "source_sha256": hashlib.sha256(Path(path).read_bytes()).hexdigest()}
    return state, meta


def network(state: dict, meta: dict) -> torch.nn.Module:
    """The converted classifier (eval mode), with TF padding."""
    net = mobilenet.build(meta["num_classes"], tf_padding=meta["padding"] == "tf_same")
    net.load_state_dict(state, strict=True)
    return net.eval()


def load_images(folder: str | Path, limit: int) -> np.ndarray:
    """Up to `limit` images under `folder` (sorted, spread over its subfolders), as uint8 (N, 224, 224, 3):
    the shorter side resized to 224, centre crop."""
    from PIL import Image

    files = sorted(p for p in Path(folder).rglob("*") if p.suffix.lower() in IMAGE_EXTENSIONS)
    if not files:
        raise ConversionError(f"{folder}: no images (.jpg, .png, ...) to check the conversion on")
    picked = [files[i] for i in np.linspace(0, len(files) - 1, min(limit, len(files))).round().astype(int)]
    out = []
    for p in picked:
        with Image.open(p) as im:
            im = im.convert("RGB")
            s = INPUT_SIZE / min(im.size)
            im = im.resize((max(INPUT_SIZE, round(im.width * s)), max(INPUT_SIZE, round(im.height * s))),
                           Image.BILINEAR)
            left, top = (im.width - INPUT_SIZE) // 2, (im.height - INPUT_SIZE) // 2
            out.append(np.asarray(im.crop((left, top, left + INPUT_SIZE, top + INPUT_SIZE))))
    return np.stack(out)


def interpreter_outputs(path: str | Path, images: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(float logits (N, 1001), pooled features (N, 1280)) from the TFLite interpreter on reference kernels."""
    try:
        from ai_edge_litert.interpreter import Interpreter, OpResolverType
    except ImportError:
        raise ConversionError("the TFLite interpreter is not installed: pip install -e '.[tflite]' "
                              "(or pip install ai-edge-litert)") from None
    it = Interpreter(model_path=str(path), experimental_op_resolver_type=OpResolverType.BUILTIN_REF,
                     experimental_preserve_all_tensors=True)
    it.allocate_tensors()
    # Activations, not weights: the 1x1 logits convolution's output and the average pool's output.
    acts = {tuple(d["shape"]): d for d in it.get_tensor_details() if len(d["shape"]) == 4 and d["shape"][0] == 1}
    logits_t, pool_t = acts[(1, 1, 1, NUM_CLASSES)], acts[(1, 1, 1, 1280)]
    inp = it.get_input_details()[0]["index"]
    logits, feats = [], []

    def dq(d):
        scale, zero = d["quantization"]
        v = it.get_tensor(d["index"]).astype(np.float64).reshape(-1)
        return (v - zero) * scale if scale else v

    for img in images:
        it.set_tensor(inp, img[None])
        it.invoke()
        logits.append(dq(logits_t))
        feats.append(dq(pool_t))
    return np.stack(logits), np.stack(feats)


@torch.no_grad()
def torch_outputs(net: torch.nn.Module, images: np.ndarray, meta: dict) -> tuple[np.ndarray, np.ndarray]:
    x = torch.from_numpy(images).permute(0, 3, 1, 2).float() / 255.0
    mean = torch.tensor(meta["input_mean"]).view(1, 3, 1, 1)
    std = torch.tensor(meta["input_std"]).view(1, 3, 1, 1)
    feats = net.features((x - mean) / std).mean((2, 3))
    return net.classifier(feats).double().numpy(), feats.double().numpy()


def agreement(tf_logits, tf_feats, pt_logits, pt_feats) -> dict:
    """Top-1 agreement, top-5 overlap, logit Pearson correlation (mean, min), pooled-feature cosine."""
    top5 = lambda z: np.argsort(-z, axis=1, kind="stable")[:, :5]
    t5, p5 = top5(tf_logits), top5(pt_logits)
    pearson = np.array([np.corrcoef(a, b)[0, 1] for a, b in zip(tf_logits, pt_logits)])
    cos = (tf_feats * pt_feats).sum(1) / (np.linalg.norm(tf_feats, axis=1) * np.linalg.norm(pt_feats, axis=1))
    return {"images": len(tf_logits), "top1_agreement": float((t5[:, 0] == p5[:, 0]).mean()),
            "top5_overlap": float(np.mean([len(set(a) & set(b)) / 5 for a, b in zip(t5, p5)])),
            "logit_pearson_mean": float(pearson.mean()), "logit_pearson_min": float(pearson.min()),
            "feature_cosine_mean": float(cos.mean())}


def check(path: str | Path, state: dict, meta: dict, images: np.ndarray) -> dict:
    tf = interpreter_outputs(path, images)
    return agreement(*tf, *torch_outputs(network(state, meta), images, meta))


def save(state: dict, meta: dict, out: str | Path) -> None:
    from dsah.io import atomic_path

    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(out) as tmp:
        torch.save({**state, "dsah_meta": meta}, tmp)
