"""The pipeline's parameters: one pydantic model per `params.yaml` section, validated on load.

Every error is reported as one line naming the key, the offending value and what is allowed,
so a typo in `params.yaml` stops a stage before it writes anything.
"""
from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError, field_validator, model_validator

DATASETS = ("synthetic", "cub200", "stanford_dogs", "flowers102", "flowers17", "cifar10", "nuswide21", "folder")
BACKBONES = ("small_cnn", "resnet18", "resnet50", "vgg16", "alexnet", "mobilenet_v2")


def _number(v: Any) -> Any:
    """YAML 1.1 reads `1e-3` as a string and `1` as an int; both are meant as floats here."""
    if isinstance(v, int) and not isinstance(v, bool):
        return float(v)
    if isinstance(v, str):
        try:
            return float(v)
        except ValueError:
            return v
    return v


# A float field that also takes what YAML 1.1 reads as an int or a string.
Float = Annotated[float, BeforeValidator(_number)]


def _augment(v: Any) -> Any:
    """`train.augment` was a boolean before it named a recipe: true meant the shifts, false none."""
    return {True: "shift", False: "none"}.get(v, v) if isinstance(v, bool) else v


class ConfigError(ValueError):
    """A parameter file that cannot be used; the message is one line per problem."""


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


class SyntheticParams(_Section):
    """The embedded fine-grained dataset (see dsah/data/synthetic.py for the design)."""

    seed: int = 0
    num_classes: int = Field(24, ge=2, le=999)
    train_per_class: int = Field(40, ge=1)
    test_per_class: int = Field(20, ge=1)
    image_size: int = Field(64, ge=24)
    part_size: int = Field(12, ge=4)
    distractor_classes: int = Field(2, ge=0)
    distractor_copies: int = Field(2, ge=1)
    blobs: int = Field(3, ge=0)
    blob_scale: list[float] = [1.0, 1.2]  # radius range of background blobs, in part sizes

    @field_validator("blob_scale", mode="before")
    @classmethod
    def _scale(cls, v: Any) -> Any:
        if isinstance(v, (list, tuple)):
            v = [float(x) if isinstance(x, int) and not isinstance(x, bool) else x for x in v]
            if len(v) != 2 or not all(isinstance(x, float) and 0 < x for x in v) or v[0] > v[1]:
                raise ValueError("expected [low, high] with 0 < low <= high")
        return v

    @model_validator(mode="after")
    def _part_fits(self):
        if self.part_size * 4 > self.image_size:
            raise ValueError(f"part_size={self.part_size} must be at most image_size/4 = {self.image_size // 4}")
        if self.distractor_classes >= self.num_classes:
            raise ValueError(f"distractor_classes={self.distractor_classes} must be below num_classes={self.num_classes}")
        return self


class DataParams(_Section):
    name: str = "synthetic"
    # A real dataset: its extracted folder, a folder of its official files, or one archive; default
    # data/raw/<name> (where `python -m dsah.data download` puts it). The synthetic one is generated.
    root: str | None = None
    image_size: int = Field(64, ge=16)
    synthetic: SyntheticParams = SyntheticParams()
    protocol: Literal["dpsh", "official"] | None = None  # CIFAR-10: 1,000/59,000/5,000 or 10,000/50,000
    query_per_class: int = Field(100, ge=1)  # CIFAR-10 dpsh
    train_per_class: int = Field(500, ge=1)  # CIFAR-10 dpsh
    flowers17_split: int = Field(1, ge=1, le=3)  # which of datasplits.mat's three splits
    test_share: Float = Field(0.2, gt=0, lt=1)  # image folder without train/ and test/: share of queries
    split_seed: int = 0  # the random splits (CIFAR-10 dpsh, image folder)
    # Side of the stored square images: each image's shorter side is resized to it and the centre
    # cropped (aspect kept). null = image_size. Larger than image_size for train.augment: crop_flip,
    # which crops from it; evaluation then sees the centre image_size crop (the SEMICON/DeepHash
    # test protocol: resize the shorter side to store_size, centre crop image_size).
    store_size: int | None = Field(None, ge=16)
    # A class subset: N = the first N classes in the loader's order (sorted folder names; the official
    # label order for CUB-200 and Stanford Dogs, which is the same), or a list of class folder names.
    classes: int | list[str] | None = None
    # A second, larger copy of each image with the same field of view as the networks' input (the centre
    # image_size crop of the store_size image, at hires_size px): what dsah.salient_source: hires samples
    # the salient view from. null: none stored.
    hires_size: int | None = Field(None, ge=16)

    @field_validator("classes")
    @classmethod
    def _classes(cls, v):
        if isinstance(v, int) and v < 2:
            raise ValueError(f"{v}: a subset needs at least 2 classes")
        if isinstance(v, list) and (len(v) < 2 or len(set(v)) != len(v)):
            raise ValueError(f"{v}: expected at least 2 distinct class names")
        return v

    @field_validator("name")
    @classmethod
    def _known(cls, v: str) -> str:
        if v not in DATASETS:
            raise ValueError(f"unknown dataset {v!r}; allowed: {', '.join(DATASETS)}")
        return v

    @model_validator(mode="after")
    def _protocol(self) -> "DataParams":
        if self.protocol is not None and self.name != "cifar10":
            raise ValueError(f"protocol={self.protocol!r} applies to cifar10 only, not {self.name}")
        return self

    @model_validator(mode="after")
    def _store(self) -> "DataParams":
        if self.store_size is not None and self.store_size < self.image_size:
            raise ValueError(f"store_size={self.store_size} must be at least image_size={self.image_size}")
        if self.hires_size is not None and self.hires_size <= self.image_size:
            raise ValueError(f"hires_size={self.hires_size} must be larger than image_size={self.image_size}")
        return self

    @property
    def stored_size(self) -> int:
        return self.store_size or self.image_size

    @property
    def source(self) -> str:
        """Where the prepare stage reads a real dataset from."""
        return self.root or f"data/raw/{self.name}"


class ModelParams(_Section):
    backbone: str = "small_cnn"
    width: int = Field(16, ge=4)
    depth: int = Field(3, ge=2, le=5)  # small_cnn blocks; sets its receptive field
    pool: Literal["avg", "max"] = "max"  # small_cnn global pooling
    norm: Literal["batch", "group", "none"] = "batch"
    pretrained: bool = False
    freeze_blocks: int = Field(0, ge=0)  # the backbone's first blocks: no gradient, eval mode (finetune.py)
    pretrained_norm: Literal["frozen", "calibrated", "train"] = "frozen"  # BatchNorm of pretrained weights

    @field_validator("backbone")
    @classmethod
    def _known(cls, v: str) -> str:
        if v not in BACKBONES:
            raise ValueError(f"unknown backbone {v!r}; allowed: {', '.join(BACKBONES)}")
        return v


class TrainParams(_Section):
    seed: int = 0
    device: str = "auto"
    epochs: int = Field(10, ge=1)
    classes_per_batch: int = Field(8, ge=2)
    images_per_class: int = Field(4, ge=1)
    lr: Float = Field(2e-3, gt=0)
    weight_decay: Float = Field(1e-4, ge=0)
    lr_schedule: Literal["cosine", "constant"] = "cosine"
    quant_weight: Float = Field(0.1, ge=0)
    # The semantic loss's theta_ij = 1/2 (theta_bits / K) u_i . u_j for hash_only, oracle_mask, dsah and
    # dsah_nosal: one scale at every code length K (null: DPSH's 1/2 u_i . u_j; method dpsh keeps that).
    theta_bits: int | None = Field(12, ge=1)
    # shift: random shifts of up to 4 px, the embedded dataset's (a flip would mirror its parts);
    # crop_flip: random resized crop (scale crop_scale of the stored image) + horizontal flip, boxes
    # and parts following (torchvision.transforms.v2) — the fine-grained recipe for real images; none.
    augment: Annotated[Literal["shift", "crop_flip", "none"], BeforeValidator(_augment)] = "shift"
    crop_scale: list[float] = [0.35, 1.0]  # crop_flip: area share range of the random crop
    backbone_lr: Float = Field(1.0, gt=0, le=1)  # the backbone's learning rate, as a share of the head's
    workers: int = Field(0, ge=0)  # data-loader worker processes (0: batches read in the training process)
    # Mixed precision: bf16 autocast around each training step, the networks' outputs (and so every
    # loss term) in float32. auto: on CUDA only (the CPU path stays float32, bit-identical); on: also
    # on the CPU (bf16 autocast, for checks); off: never.
    amp: Literal["auto", "on", "off"] = "auto"
    # Training processes (DistributedDataParallel through torchrun: one per GPU, or gloo on the CPU);
    # classes_per_batch must be a multiple of it. dsah/distributed.py says how the batch is split.
    nproc: int = Field(1, ge=1)

    model_config = ConfigDict(extra="forbid", strict=True)

    @field_validator("crop_scale", mode="before")
    @classmethod
    def _crop_scale(cls, v: Any) -> Any:
        if isinstance(v, (list, tuple)):
            v = [_number(x) for x in v]
            if len(v) != 2 or not all(isinstance(x, float) and 0 < x <= 1 for x in v) or v[0] > v[1]:
                raise ValueError("expected [low, high] with 0 < low <= high <= 1")
        return v

    @field_validator("device")
    @classmethod
    def _device(cls, v: str) -> str:
        if v not in ("auto", "cpu") and not v.startswith("cuda"):
            raise ValueError(f"device {v!r} is not one of auto, cpu, cuda, cuda:N")
        return v


class DsahParams(_Section):
    """DSaH's attention network, losses and schedule (see docs/method.md; all reconstruction)."""

    attention: Literal["small", "resnet18", "resnet50", "mobilenet_v2"] = "small"
    attention_width: int = Field(8, ge=2)  # small: channels at full resolution
    attention_levels: int = Field(3, ge=1, le=5)  # small: stride-2 encoder levels
    attention_out_stride: int = Field(8, ge=1)  # small: decoder output stride before upsampling
    attention_norm: Literal["batch", "group", "none"] = "batch"
    attention_pretrained: bool = False
    attention_freeze_blocks: int = Field(0, ge=0)  # torchvision trunks: first blocks frozen (no backward)
    init_bias: Float = 0.0  # initial map = sigmoid(init_bias) everywhere
    attention_lr: Float = Field(1e-2, gt=0)
    saliency_loss: Literal["ranking", "distance", "none"] = "distance"
    margin: Float = Field(4.0, ge=0)  # distance: in bits; ranking: in loss units per pair
    attention_lr_schedule: Literal["cosine", "constant"] | None = None  # None: train.lr_schedule
    margin_bits: int | None = Field(None, ge=1)  # distance: `margin` is meant at this code length, scaled by K / margin_bits
    frozen_norm: Literal["running", "batch"] = "batch"  # the frozen hashing network's BN in step 2
    step2_semantic_weight: Float = Field(0.0, ge=0)  # alpha: + alpha L_sem(v, v) in step 2
    cross_term: bool = False  # + l(u, v) in the semantic loss of step 1
    alternate: Literal["batch", "epoch"] = "batch"
    attention_every: int = Field(1, ge=1)  # per-batch alternation: a step 2 after every n-th step 1
    warmup_epochs: int = Field(0, ge=0)  # hashing-only epochs before the first attention step
    salient_view: Literal["fade", "blur", "zoom"] = "fade"  # fade to the mean or to a blurred copy where the map is low, or zoom into where it is high
    # Where the zoom view samples from: input (the networks' image_size input) | hires (the same field of
    # view stored at data.hires_size: the attention looks at the input, the salient view has more pixels)
    salient_source: Literal["input", "hires"] = "input"
    regularizer: Literal["none", "area", "tv"] = "none"  # an ablation only; off for DSaH proper
    regularizer_weight: Float = Field(0.0, ge=0)

    @model_validator(mode="after")
    def _source(self):
        if self.salient_source == "hires" and self.salient_view != "zoom":
            raise ValueError(f"salient_source=hires needs salient_view=zoom (the view that resamples the image), "
                             f"not {self.salient_view}")
        return self

    @field_validator("attention_out_stride")
    @classmethod
    def _pow2(cls, v: int) -> int:
        if v & (v - 1):
            raise ValueError(f"attention_out_stride={v} must be a power of two")
        return v


class BaselineParams(_Section):
    """Loss constants of the comparison methods, each from its paper or reference code
    (dsah/methods/<name>.py states the source; ../shared/reference/baselines.md)."""

    dsh_alpha: Float = Field(0.01, ge=0)  # DSH: weight of mean | |u| - 1 | (paper 0.01); margin m = 2K
    hashnet_scale: Float = Field(10.0, gt=0)  # HashNet: theta = (scale / K) h_i . h_j (reference 10 / K)
    hashnet_beta_final: Float = Field(7.14, ge=1)  # HashNet: tanh(beta z), beta 1 -> this (reference sqrt(51))
    greedyhash_alpha: Float = Field(0.1, ge=0)  # GreedyHash: weight of mean | |z| - 1 |^3
    csq_lambda: Float = Field(0.05, ge=0)  # CSQ: weight of mean (|h| - 1)^2 (reference, ResNet commands)
    csq_draws: int = Field(100, ge=1)  # CSQ: balanced Bernoulli centre sets drawn; the largest min distance kept
    orthohash_scale: Float = Field(8.0, gt=0)  # OrthoHash: s
    orthohash_margin: Float = Field(0.2, ge=0)  # OrthoHash: m (cosine margin)
    dtq_dim: int = Field(96, ge=2)  # DTQ: feature dimension D (divisible by every number of sub-codebooks used)
    dtq_margin: Float = Field(45.0, ge=0)  # DTQ: triplet margin (reference 30 at D = 64, scaled to D)
    itq_iterations: int = Field(50, ge=1)  # ITQ: rotation updates


class EvalParams(_Section):
    batch_size: int = Field(256, ge=1)
    # Pointing game on datasets whose parts are points (CUB): a hit is a map peak within a square
    # of this fraction of the image side around a visible part. The synthetic set has a part size.
    part_box: Float = Field(0.125, gt=0, le=1)
    top_k: list[int] = [100]  # cut-offs of mAP@k and NDCG@k
    precision_at: list[int] = [10, 100]  # N of the reported precision@N
    radius: int = Field(2, ge=0)  # precision within this Hamming radius (and the share of empty balls)
    # DSaH: which branch encodes queries and database. An evaluation-time choice (it was dsah.codes):
    # changing it re-runs evaluate and report, never training.
    codes: Literal["salient", "original", "fused"] = "salient"

    @field_validator("top_k", "precision_at")
    @classmethod
    def _cutoffs(cls, v: list[int]) -> list[int]:
        if not v or any(k < 1 for k in v) or len(set(v)) != len(v):
            raise ValueError(f"{v} must be a non-empty list of distinct positive integers")
        return v

class Params(_Section):
    """The whole `params.yaml`."""

    profile: str = Field("full", pattern=r"^[a-z0-9_]+$")  # "full" (params.yaml), "fast", or a paper profile
    methods: list[str] = ["hash_only", "oracle_mask"]  # hashing network alone (train stage)
    attention_methods: list[str] = ["dsah", "dsah_nosal"]  # with an attention network (train_attention stage)
    bits: list[int] = [12, 24, 32, 48]
    # Training seeds: the pipeline trains every method x code length once per seed (runs/<method>-s<seed>/<bits>/);
    # the stage sets train.seed to each. A file with train.seed and no seeds list means seeds: [train.seed].
    seeds: list[int] = [0]
    data: DataParams = DataParams()
    model: ModelParams = ModelParams()
    train: TrainParams = TrainParams()
    dsah: DsahParams = DsahParams()
    baselines: BaselineParams = BaselineParams()
    eval: EvalParams = EvalParams()

    @field_validator("methods", "attention_methods")
    @classmethod
    def _methods(cls, v: list[str], info) -> list[str]:
        from dsah.methods import METHODS

        want_attention = info.field_name == "attention_methods"
        allowed = [n for n, c in METHODS.items() if c.uses_attention == want_attention]
        for m in v:
            if m not in allowed:
                known = f" ({m} belongs in {'methods' if want_attention else 'attention_methods'})" if m in METHODS else ""
                raise ValueError(f"unknown method {m!r}{known}; allowed here: {', '.join(allowed)}")
        if len(set(v)) != len(v):
            raise ValueError("a method is listed twice")
        return v

    @model_validator(mode="before")
    @classmethod
    def _moved_keys(cls, raw: Any) -> Any:
        if isinstance(raw, dict) and isinstance(raw.get("dsah"), dict) and "codes" in raw["dsah"]:
            raise ValueError(f"dsah.codes = {raw['dsah']['codes']!r}: moved to eval.codes (it chooses the encoding "
                             "branch at evaluation time and does not re-train)")
        return raw

    @model_validator(mode="after")
    def _hires_source(self) -> "Params":
        if self.dsah.salient_source == "hires":
            if self.data.hires_size is None:
                raise ValueError("dsah.salient_source=hires needs data.hires_size (the stored high-resolution copy), "
                                 "which is null")
            if self.train.augment != "none":
                raise ValueError(f"dsah.salient_source=hires needs train.augment=none (the high-resolution copy "
                                 f"is not augmented), not {self.train.augment}")
        return self

    @field_validator("seeds")
    @classmethod
    def _seeds(cls, v: list[int]) -> list[int]:
        if not v or len(set(v)) != len(v) or any(x < 0 for x in v):
            raise ValueError(f"{v} must be a non-empty list of distinct non-negative integers")
        return v

    @model_validator(mode="after")
    def _one_seed_setting(self) -> "Params":
        explicit = "seed" in self.train.model_fields_set
        if explicit and "seeds" not in self.model_fields_set:
            self.seeds = [self.train.seed]
        elif explicit and self.train.seed not in self.seeds:
            raise ValueError(f"train.seed={self.train.seed} is not one of seeds {self.seeds}: the pipeline trains "
                             "one run per entry of the top-level seeds list; set the seeds there")
        return self

    def for_seed(self, seed: int) -> "Params":
        """These parameters for the run with training seed `seed` (one of `seeds`)."""
        if seed not in self.seeds:
            raise ConfigError(f"seed={seed}: not one of seeds {self.seeds} in the parameters")
        return self.model_copy(update={"train": self.train.model_copy(update={"seed": seed})})

    @property
    def all_methods(self) -> list[str]:
        """Every method the pipeline trains, evaluates and reports."""
        return self.methods + self.attention_methods

    @field_validator("bits")
    @classmethod
    def _bits(cls, v: list[int]) -> list[int]:
        for b in v:
            if b <= 0:
                raise ValueError(f"code length {b} must be a positive number of bits")
        return v


def _format(err: ValidationError, source: str) -> str:
    lines = []
    for e in err.errors():
        key = ".".join(str(p) for p in e["loc"]) or "(top level)"
        msg = e["msg"].removeprefix("Value error, ")
        if e["type"] == "extra_forbidden":
            msg = "unknown key; check the spelling against params.yaml"
        value = e.get("input")
        shown = "" if isinstance(value, dict) else f" = {value!r}"
        lines.append(f"{source}: {key}{shown}: {msg}")
    return "\n".join(lines)


def parse(raw: dict, source: str = "params") -> Params:
    """Validate a parsed parameter dictionary; raise ConfigError with one line per problem."""
    if not isinstance(raw, dict):
        raise ConfigError(f"{source}: expected a mapping of sections, got {type(raw).__name__}")
    try:
        return Params.model_validate(raw)
    except ValidationError as err:
        raise ConfigError(_format(err, source)) from None


def merge(base: dict, over: dict) -> dict:
    """`over` on top of `base`: sections merge key by key, any other value (lists included) replaces."""
    out = dict(base)
    for k, v in over.items():
        out[k] = merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


def read(path: str | Path, _seen: tuple = ()) -> dict:
    """The raw parameters of a file, its `extends:` chain resolved: `extends: FILE` (relative to the
    file's folder) names the parameters this file changes keys of; the result has no `extends`."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{path}: parameter file not found")
    if path.resolve() in _seen:
        raise ConfigError(f"{path}: extends itself (through {' -> '.join(str(p) for p in _seen)})")
    try:
        raw = yaml.safe_load(path.read_text())
    except yaml.YAMLError as err:
        raise ConfigError(f"{path}: not valid YAML ({err})") from None
    if raw is None:
        raise ConfigError(f"{path}: empty parameter file; expected the sections of params.yaml "
                          "(copy params.yaml or a file of profiles/ and change what you need)")
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: expected a mapping of sections, got {type(raw).__name__}")
    base = raw.pop("extends", None)
    if base is None:
        return raw
    if not isinstance(base, str):
        raise ConfigError(f"{path}: extends = {base!r}: expected the path of one parameter file")
    return merge(read(path.parent / base, (*_seen, path.resolve())), raw)


def load(path: str | Path) -> Params:
    """Read and validate a parameter file (with its `extends:` chain)."""
    return parse(read(path), str(path))


def check_data(params: Params, root: Path | None = None) -> None:
    """Raise ConfigError with the prepare stage's message when a real dataset's folder does not exist."""
    if params.data.name == "synthetic":
        return
    from dsah.data import sources
    from dsah.paths import repo_root, resolve

    if root is None:
        try:
            root = repo_root()  # the pipeline resolves data.root against the repository
        except FileNotFoundError:
            root = Path.cwd()
    where = resolve(params.data.source, root)
    if not where.exists():
        raise ConfigError(f"data.root = {params.data.root!r}: " + sources.missing_message(sources.SOURCES[params.data.name], where))


def check_run(method: str, bits: int) -> None:
    """Validate the (method, bits) of one matrix entry, given on the command line, not in params.yaml."""
    from dsah.methods import METHODS

    if method not in METHODS:
        raise ConfigError(f"method={method!r}: unknown method; allowed: {', '.join(METHODS)}")
    if not isinstance(bits, int) or bits <= 0:
        raise ConfigError(f"bits={bits!r}: must be a positive number of bits")


def main(argv: list[str] | None = None) -> int:
    """`python -m dsah.config [params.yaml ...]`: validate parameter files, one line per problem, and
    check that a real dataset's folder exists (what the prepare stage would read)."""
    import sys

    files = (argv if argv is not None else sys.argv[1:]) or ["params.yaml"]
    status = 0
    for f in files:
        try:
            p = load(f)
            check_data(p)
        except ConfigError as err:
            print(err, file=sys.stderr)
            status = 2
        else:
            print(f"{f}: valid ({p.profile} profile, methods {p.all_methods}, bits {p.bits})")
    return status


if __name__ == "__main__":
    raise SystemExit(main())
