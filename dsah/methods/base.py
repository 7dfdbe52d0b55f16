"""What every method provides to the training loop, the evaluator and the report, and the registry.

A method is one module in dsah/methods/: a `Method` subclass with a `name` registers itself when its
module is imported (dsah.methods imports every module of the package), declares its capabilities as
class attributes, and its own constants as a `Config` section (params.yaml `method.<name>`). Nothing
outside dsah/methods/ names a method: the pipeline, the report and the tests read these attributes.
"""
from __future__ import annotations

from typing import ClassVar

import torch

from dsah.schema import Section

REGISTRY: dict[str, type["Method"]] = {}


class Method:
    """A hashing method: its networks, one optimisation step on a batch, and an encoder.

    Batches carry normalised images `x` (N, 3, S, S), labels `y` (N,) and object-box masks
    `box` (N, 1, S, S); a method that does not use boxes ignores them.
    """

    name: ClassVar[str] = ""  # its params.yaml name; set: registered
    description: ClassVar[str] = ""
    # -- capabilities ------------------------------------------------------------------------------
    uses_attention: ClassVar[bool] = False  # an attention network: saliency maps, the train_attention stage
    fitted: ClassVar[bool] = False  # fitted once on features (`fit`), no epochs: the train_fitted stage
    # How the database is searched: "hamming" (sign of `encode` = the K-bit code) or "quantization"
    # (DTQ: `encode` gives D-dim features, the database is product-quantised to K bits, the queries
    # are searched with the asymmetric quantizer distance; dsah.pq).
    search: ClassVar[str] = "hamming"
    oracle: ClassVar[bool] = False  # uses ground truth at query time: an upper bound, never a "winner"
    ablation: ClassVar[bool] = False  # an ablation of another method: compared, never a report's headline
    # The method this one adds to (an attention method's network without attention): its comparisons'
    # reference in the report (gain over it; the oracle of the same reference bounds the gain).
    reference: ClassVar[str | None] = None
    same_as: ClassVar[str | None] = None  # another registered name for the same method (dpsh = hash_only)
    # The published method a comparison names it by, for the paper's claims (e.g. "dtq", "dpsh")
    paper_name: ClassVar[str | None] = None
    # True: train_step and encode take `hires=`, the high-resolution copy of the batch (data.hires_size)
    needs_hires: bool = False
    # Composition: a class with `composes` set registers `<name>_<base>` over every base it `accepts`
    # (the attention plug-in, the oracle); such a composed class names its `base`.
    composes: ClassVar[bool] = False
    base: ClassVar[str | None] = None
    # Top-level params.yaml sections a method reads besides its own (the attention methods' attention:)
    extra_sections: ClassVar[dict[str, type[Section]]] = {}
    # Its own constants: a Section, validated under params.yaml `method.<name>` (subclasses share their
    # parent's section unless they declare one), or at the top-level section `config_at` names
    Config: ClassVar[type[Section] | None] = None
    config_at: ClassVar[str | None] = None

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if cls.__dict__.get("name"):
            if cls.name in REGISTRY and REGISTRY[cls.name].__qualname__ != cls.__qualname__:
                raise ValueError(f"method {cls.name!r} registered twice: {REGISTRY[cls.name]} and {cls}")
            REGISTRY[cls.name] = cls

    @classmethod
    def config_owner(cls) -> type["Method"] | None:
        """The nearest class (this one or a parent) that declares a Config."""
        return next((k for k in cls.__mro__ if k.__dict__.get("Config") is not None), None)

    @classmethod
    def config_path(cls) -> str | None:
        """Where in params.yaml this method's own constants are: `method.<name>` of the class declaring
        them, or its `config_at`; None for a method without constants of its own."""
        owner = cls.config_owner()
        return None if owner is None else owner.config_at or f"method.{owner.name}"

    @classmethod
    def check(cls, params) -> None:
        """Raise ValueError when `params` cannot train this method (cross-section checks)."""

    @classmethod
    def accepts(cls, base: type["Method"]) -> str | None:
        """A composing class: None when it composes over `base`, else why not (one line)."""
        return "composes over nothing"

    @classmethod
    def over(cls, base: type["Method"]) -> type["Method"]:
        """A composing class: its registered variant `<name>_<base>` over `base`."""
        raise NotImplementedError

    @classmethod
    def config_in(cls, params):
        """This method's own constants in `params` (at `config_path()`); None without any."""
        if cls.config_path() is None:
            return None
        node = params
        for key in cls.config_path().split("."):
            node = node[key] if isinstance(node, dict) else getattr(node, key)
        return node

    @property
    def config(self):
        """This method's own constants (params.yaml at `config_path()`)."""
        return self.config_in(self.params)

    def __init__(self, params, bits: int, device: torch.device, num_classes: int | None = None):
        self.params, self.bits, self.device, self.num_classes = params, bits, device, num_classes

    @property
    def code_dim(self) -> int:
        """Width of what `encode` returns: K for Hamming methods, the feature dimension for DTQ."""
        return self.bits

    def classes(self) -> int:
        """The number of classes, for methods with class centres, codebooks or a classifier."""
        if not self.num_classes:
            raise ValueError(f"{self.name} needs the number of classes (num_classes=...) to build its "
                             "class codes or classifier")
        return self.num_classes

    def modules(self) -> dict[str, torch.nn.Module]:
        raise NotImplementedError

    def parallel(self, name: str) -> torch.nn.Module:
        """The module `name` as the training step should call it: wrapped once in DistributedDataParallel
        in a distributed run (dsah.distributed), itself otherwise; checkpoints keep the bare modules."""
        from dsah import distributed

        wrapped = self.__dict__.setdefault("_parallel", {})
        if name not in wrapped:
            wrapped[name] = distributed.wrap(self.modules()[name], self.device)
        return wrapped[name]

    def input_stats(self, meta: dict) -> tuple[list[float], list[float]]:
        """(mean, std) the networks' inputs are normalised with: a pretrained hashing backbone's own
        (ImageNet's, or (0.5, 0.5) for weights converted from TFLite), else the training split's."""
        net = self.modules().get("hashing")
        stats = getattr(net, "input_stats", None)
        return stats if stats is not None else (meta["mean"], meta["std"])

    def pretrained_modules(self) -> list[torch.nn.Module]:
        """The modules that start from pretrained weights (calibrated by model.pretrained_norm: calibrated)."""
        return [self.net.backbone] if self.params.model.pretrained else []

    def train_step(self, x: torch.Tensor, y: torch.Tensor, box: torch.Tensor) -> dict[str, float]:
        raise NotImplementedError

    def end_epoch(self) -> dict[str, float]:
        """Called after each epoch (learning-rate schedules, statistics); returns values to log."""
        return {}

    @torch.no_grad()
    def encode(self, x: torch.Tensor, box: torch.Tensor) -> torch.Tensor:
        """(N, code_dim) real values for retrieval: their signs are the binary codes (relaxed codes
        in (-1, 1)^K for most methods; DTQ's are the features its quantizer encodes)."""
        raise NotImplementedError

    def train(self, mode: bool = True) -> None:
        for m in self.modules().values():
            m.train(mode)

    def state_dict(self) -> dict:
        return {k: m.state_dict() for k, m in self.modules().items()}

    def load_state_dict(self, state: dict) -> None:
        for k, m in self.modules().items():
            m.load_state_dict(state[k])

    # -- resuming ----------------------------------------------------------------------------------
    # Everything a method carries between epochs, found by type so that every method is covered:
    # its modules, optimisers, learning-rate schedulers, random generators and integer/float counters
    # (DSaH's epoch and batch, HashNet's epoch). The training loop writes it after every epoch.
    _NOT_STATE = ("bits", "num_classes")

    def training_state(self) -> dict:
        objects, counters = {}, {}
        for k, v in vars(self).items():
            if isinstance(v, (torch.optim.Optimizer, torch.optim.lr_scheduler.LRScheduler)):
                objects[k] = v.state_dict()
            elif isinstance(v, torch.Generator):
                objects[k] = v.get_state()
            elif type(v) in (int, float) and k not in self._NOT_STATE:
                counters[k] = v
        return {"modules": self.state_dict(), "objects": objects, "counters": counters}

    def load_training_state(self, state: dict) -> None:
        self.load_state_dict(state["modules"])
        for k, v in state["objects"].items():
            obj = getattr(self, k)
            obj.set_state(v) if isinstance(obj, torch.Generator) else obj.load_state_dict(v)
        for k, v in state["counters"].items():
            setattr(self, k, v)
