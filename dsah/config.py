"""The pipeline's parameters: one pydantic model per `params.yaml` section, validated on load.

Every error is reported as one line naming the key, the offending value and what is allowed,
so a typo in `params.yaml` stops a stage before it writes anything.
"""
from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BeforeValidator, ConfigDict, Field, ValidationError, create_model, field_validator, model_validator

from dsah.schema import Float, Section, _number

DATASETS = ("synthetic", "cub200", "stanford_dogs", "flowers102", "flowers17", "cifar10", "nuswide21", "folder")
BACKBONES = ("small_cnn", "resnet18", "resnet50", "vgg16", "alexnet", "mobilenet_v2")


def _augment(v: Any) -> Any:
    """`train.augment` was a boolean before it named a recipe: true meant the shifts, false none."""
    return {True: "shift", False: "none"}.get(v, v) if isinstance(v, bool) else v


class ConfigError(ValueError):
    """A parameter file that cannot be used; the message is one line per problem."""


class SyntheticParams(Section):
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


class DataParams(Section):
    name: str = "synthetic"
    # A real dataset: its extracted folder, a folder of its official files, or one archive; default
    # data/raw/<name> (where `python -m dsah.cli.data download` puts it). The synthetic one is generated.
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


class ModelParams(Section):
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


class TrainParams(Section):
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


class EvalParams(Section):
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

def _method_sections() -> dict[str, tuple]:
    """The sections the registered methods declare (`Method.Config`, in each method's own file): one
    `method.<name>` subsection per declaring method, and the top-level sections some declare instead
    (`config_at`), and the extra sections methods read (`extra_sections`: the attention methods'
    `attention:`). Field definitions for pydantic's create_model."""
    from dsah.methods import METHODS

    nested, top = {}, {}
    for cls in METHODS.values():
        if "Config" in cls.__dict__ and cls.Config is not None:
            where = cls.config_path()
            if where.startswith("method."):
                nested[where.removeprefix("method.")] = (cls.Config, cls.Config())
            else:
                top[where] = (cls.Config, cls.Config())
        for where, section in cls.extra_sections.items():
            top[where] = (section, section())
    sections = create_model("MethodParams", __base__=Section, **nested)
    return {**top, "method": (sections, sections())}


# Keys of earlier parameter files, and where they are now (`upgrade` moves them in old checkpoints).
MOVED_BASELINES = {"dsh_alpha": "dsh.alpha", "hashnet_scale": "hashnet.scale", "hashnet_beta_final": "hashnet.beta_final",
                   "greedyhash_alpha": "greedyhash.alpha", "csq_lambda": "csq.quant_weight", "csq_draws": "csq.draws",
                   "orthohash_scale": "orthohash.scale", "orthohash_margin": "orthohash.margin", "dtq_dim": "dtq.dim",
                   "dtq_margin": "dtq.margin", "itq_iterations": "itq.iterations"}


def upgrade(raw: dict) -> dict:
    """Parameters written before each method owned its section (`dsah:` is now `attention:`, `baselines:`
    keys are under `method.<name>`), in today's keys: for the parameters recorded in older checkpoints and
    the overrides of older sweep records; a params file with old keys is an error naming the new ones."""
    raw = dict(raw)
    method = dict(raw.get("method") or {})
    if isinstance(raw.get("dsah"), dict):
        raw["attention"] = merge(raw.get("attention") or {}, {k: v for k, v in raw.pop("dsah").items() if k != "codes"})
    for old, value in (raw.pop("baselines", None) or {}).items():
        if old not in MOVED_BASELINES:
            raise ConfigError(f"baselines.{old}: unknown key of the former baselines: section")
        section, key = MOVED_BASELINES[old].split(".")
        method[section] = {**(method.get(section) or {}), key: value}
    if method:
        raw["method"] = method
    if isinstance(raw.get("methods"), list) and "fitted_methods" not in raw:
        from dsah.methods import METHODS, stage_of

        fitted = [m for m in raw["methods"] if m in METHODS and stage_of(m) == "fitted_methods"]
        if fitted:
            raw["methods"] = [m for m in raw["methods"] if m not in fitted]
            raw["fitted_methods"] = fitted
    return raw



class Params(Section):
    """The whole `params.yaml`."""

    profile: str = Field("full", pattern=r"^[a-z0-9_]+$")  # "full" (params.yaml), "fast", or a paper profile
    methods: list[str] = ["hash_only", "oracle_mask"]  # the hashing network alone (train stage)
    fitted_methods: list[str] = []  # fitted once on features (train_fitted stage): lsh, itq
    attention_methods: list[str] = ["dsah", "dsah_nosal"]  # with an attention network (train_attention stage)
    bits: list[int] = [12, 24, 32, 48]
    # Training seeds: the pipeline trains every method x code length once per seed (runs/<method>-s<seed>/<bits>/);
    # the stage sets train.seed to each. A file with train.seed and no seeds list means seeds: [train.seed].
    seeds: list[int] = [0]
    data: DataParams = DataParams()
    model: ModelParams = ModelParams()
    train: TrainParams = TrainParams()
    eval: EvalParams = EvalParams()
    # method: each method's own constants (declared in dsah/methods/<name>.py), added by `params_model`

    @field_validator("methods", "fitted_methods", "attention_methods")
    @classmethod
    def _methods(cls, v: list[str], info) -> list[str]:
        from dsah.methods import METHODS, refusal, stage_of

        allowed = sorted(n for n in METHODS if stage_of(n) == info.field_name)
        for m in v:
            if m not in allowed:
                if refusal(m):
                    raise ValueError(refusal(m))
                known = f" ({m} belongs in {stage_of(m)})" if m in METHODS else ""
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
        if isinstance(raw, dict) and "dsah" in raw:
            raise ValueError("the dsah: section is now attention: (the attention network, saliency loss and schedule)")
        if isinstance(raw, dict) and isinstance(raw.get("baselines"), dict):
            moves = ", ".join(f"{k} -> method.{MOVED_BASELINES.get(k, '?')}" for k in raw["baselines"])
            raise ValueError(f"the baselines: section moved to each method's own section under method: ({moves})")
        return raw

    @model_validator(mode="after")
    def _methods_accept(self) -> "Params":
        from dsah.methods import get

        for m in self.all_methods:
            get(m).check(self)
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
        return self.methods + self.fitted_methods + self.attention_methods

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


_MODELS: dict[tuple, type[Params]] = {}


def params_model() -> type[Params]:
    """The whole `params.yaml` as the registered methods make it: `Params` with the `method:` section of
    every method registered now (one imported later, e.g. from a file of the user's, is included)."""
    from dsah.methods import METHODS

    key = tuple((n, c) for n, c in METHODS.items() if "Config" in c.__dict__ or c.extra_sections)
    if key not in _MODELS:
        _MODELS[key] = create_model("Params", __base__=Params, **_method_sections())
    return _MODELS[key]


def parse(raw: dict, source: str = "params") -> Params:
    """Validate a parsed parameter dictionary; raise ConfigError with one line per problem."""
    if not isinstance(raw, dict):
        raise ConfigError(f"{source}: expected a mapping of sections, got {type(raw).__name__}")
    try:
        return params_model().model_validate(raw)
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


def apply_overrides(raw: dict, overrides: list[str]) -> dict:
    """`section.key=value` strings (values parsed as YAML) applied to a parameter dictionary."""
    for item in overrides:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise ConfigError(f"override {item!r}: expected section.key=value")
        node = raw
        *parents, last = key.split(".")
        for p in parents:
            node = node.setdefault(p, {})
            if not isinstance(node, dict):
                raise ConfigError(f"override {item!r}: {p} is not a section")
        node[last] = yaml.safe_load(value)
    return raw


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
