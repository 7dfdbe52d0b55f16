"""`dsah`: Deep Saliency Hashing — an attention network and one shared hashing network, trained in two steps.

Step 1 (hashing network theta, attention frozen):  L_sem(u, u) + L_sem(v, v) [+ l(u, v)] + lambda (L_q(u) + L_q(v))
Step 2 (attention phi, hashing network frozen):    L_sal(u, v) [+ alpha L_sem(v, v)] [+ regulariser]
with u = F(x), v = F(x ⊙ A(x)). Which parts the paper fixes and which are our reconstruction:
docs/method.md. Every reconstructed choice is an `attention:` key in params.yaml.

The attention part is a plug-in (`Attention`): over any Hamming base method B (a `HashOnly` subclass with
its own loss), `dsah_<B>` trains B's network with B's own loss on the original and the salient view in
step 1 (as DSaH applies its semantic loss to both) and the attention with the saliency loss on B's
relaxed codes in step 2; `dsah_nosal_<B>` trains the attention with B's loss on the salient view instead,
and `oracle_mask_<B>` (dsah/methods/oracle_mask.py) is B on box-masked images. `dsah` itself is the plug-in
over `hash_only`, with DSaH's own step-1 formula above (the same loss, summed in DSaH's order, and its
optional cross term). Bases searched by product quantization (DTQ) are refused: the saliency loss ranks
Hamming distances of codes.
"""
from __future__ import annotations

from typing import Literal

import torch
from pydantic import Field, field_validator, model_validator

from dsah.distributed import gather
from dsah.losses import (pairwise_loss, quantization_loss, saliency_distance_loss, saliency_ranking_loss,
                         similarity, theta_scale)
from dsah.methods.base import Method
from dsah.methods.hash_only import HashOnly, make_optimizer
from dsah.models.attention import build_attention, salient
from dsah.schema import Float, Section


class DsahConfig(Section):
    """DSaH's attention network, saliency loss and schedule (params.yaml `attention:`; docs/method.md; all
    reconstruction)."""

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


class Attention:
    """The attention plug-in, mixed in before a hashing method (a `HashOnly` subclass): an attention
    network, the salient view, the two-step schedule and the saliency loss on the base's relaxed codes.
    The base keeps its network, loss, optimiser, schedule and own modules."""

    uses_attention = True
    saliency_loss: str | None = None  # None: attention.saliency_loss from params.yaml; "none": the nosal ablation
    extra_sections = {"attention": DsahConfig}  # params.yaml's attention: section, shared by every attention method
    composes = True  # composes over the registered Hamming bases (dsah.methods' registry: `over`)

    @classmethod
    def check(cls, params) -> None:
        d = params.attention
        if d.salient_source == "hires":
            if params.data.hires_size is None:
                raise ValueError("attention.salient_source=hires needs data.hires_size (the stored "
                                 "high-resolution copy), which is null")
            if params.train.augment != "none":
                raise ValueError(f"attention.salient_source=hires needs train.augment=none (the high-resolution "
                                 f"copy is not augmented), not {params.train.augment}")

    @classmethod
    def accepts(cls, base: type[Method]) -> str | None:
        """None when this attention method composes over `base`, else why not (one line)."""
        if not (isinstance(base, type) and issubclass(base, HashOnly)) or base.uses_attention or base.oracle or \
                base.fitted or base.base is not None:
            return f"{base.name} is not a hashing method trained by a loss on its network's outputs"
        if base.search != "hamming":
            return (f"{base.name} searches by {base.search}, not Hamming distance: the saliency loss ranks Hamming "
                    "distances of codes, and no saliency term is defined for its quantizer")
        if base.name == cls.reference:
            return f"{base.name} is {cls.name}'s own base"
        return None

    @classmethod
    def over(cls, base: type[HashOnly]) -> type:
        """The registered class `<name>_<base>`: this attention method's plug-in over `base`."""
        name = f"{cls.name}_{base.name}"
        doc = (f"`{name}`: {cls.name}'s attention plug-in over `{base.name}` — step 1 {base.name}'s own loss on the "
               "original and the salient view, step 2 " + ("its loss on the salient view (the no-saliency-loss "
               "ablation)" if cls.saliency_loss == "none" else "the saliency loss on its relaxed codes") + ".")
        return type(f"{cls.__name__}Over{base.__name__}", (Attention, base), {
            "name": name, "description": f"{cls.description}, over {base.name}", "__doc__": doc,
            "__module__": cls.__module__, "reference": base.name, "base": base.name,
            "saliency_loss": cls.saliency_loss, "ablation": cls.ablation})

    def __init__(self, params, bits: int, device: torch.device, num_classes: int | None = None):
        super().__init__(params, bits, device, num_classes)  # the base: its network, modules and optimiser
        m, d = params.model, params.attention
        self.cfg = d
        self.code_branch = params.eval.codes  # evaluation-time: which branch encodes
        self.loss_form = self.saliency_loss or d.saliency_loss
        self.needs_hires = d.salient_source == "hires"  # the loop passes the high-resolution copy (data.hires_size)
        self.theta_c = theta_scale(bits, params.train.theta_bits)  # c in the ranking form's theta = c a . b
        self.margin = d.margin * (bits / d.margin_bits if d.margin_bits and self.loss_form == "distance" else 1.0)
        self.attention = build_attention(d.attention, d.attention_width, d.attention_levels, d.attention_norm,
                                         d.attention_out_stride, d.attention_pretrained, d.init_bias,
                                         d.attention_freeze_blocks, m.pretrained_norm).to(device)
        self.att_opt, self.att_sched = make_optimizer(params, self.attention, max(self.attention_epochs(), 1),
                                                    lr=d.attention_lr, backbone="trunk",
                                                    schedule=d.attention_lr_schedule)
        self.epoch = 0  # epochs finished
        self.batch = 0  # batches seen in this epoch
        self._stats: dict[str, float] = {}
        self._n_maps = 0

    def modules(self) -> dict[str, torch.nn.Module]:
        return {**super().modules(), "attention": self.attention}

    def pretrained_modules(self) -> list[torch.nn.Module]:
        out = super().pretrained_modules()
        return out + [self.attention.trunk] if self.cfg.attention_pretrained else out

    # -- the schedule --------------------------------------------------------------------------
    def _steps_now(self) -> tuple[bool, bool]:
        """(run step 1, run step 2) for the current batch."""
        if self.epoch < self.cfg.warmup_epochs:
            return True, False
        if self.cfg.alternate == "epoch":
            attention_epoch = self._is_attention_epoch(self.epoch)
            return not attention_epoch, attention_epoch
        return True, self.batch % self.cfg.attention_every == 0

    def _is_attention_epoch(self, epoch: int) -> bool:
        """Whether step 2 runs in `epoch` (0-based): every epoch after the warm-up, or with
        alternate=epoch every second one."""
        if epoch < self.cfg.warmup_epochs:
            return False
        return self.cfg.alternate != "epoch" or (epoch - self.cfg.warmup_epochs) % 2 == 1

    def attention_epochs(self) -> int:
        """The epochs in which the attention learns: its learning-rate schedule spans these."""
        return sum(self._is_attention_epoch(e) for e in range(self.params.train.epochs))

    def train_step(self, x, y, box, hires=None):
        hash_step, attention_step = self._steps_now()
        self.batch += 1
        out: dict[str, float] = {}
        if hash_step:
            out.update(self.hashing_step(x, y, box, hires))
        if attention_step:
            out.update(self.attention_step(x, y, box, hires))
        return out

    def make_salient(self, x, smap, hires=None) -> torch.Tensor:
        """The salient image under the map `smap`: attention.salient_view, sampled from the high-resolution
        copy `hires` with attention.salient_source: hires (at the input's size)."""
        if self.needs_hires and hires is None:
            raise ValueError("attention.salient_source=hires: the high-resolution images (data.hires_size) were not given")
        return salient(x, smap, self.cfg.salient_view, hires if self.needs_hires else None)

    # -- step 1: the base's network, the base's loss on both views -----------------------------------------
    def pair_terms(self, zu, zv, y) -> dict[str, torch.Tensor]:
        """Step 1's loss terms on the (gathered) outputs of the original and the salient views: the base's
        own loss on each, summed term by term ("loss" is minimised)."""
        tu, tv = self.loss(zu, y), self.loss(zv, y)
        return {k: tu[k] + tv[k] for k in tu}

    def hashing_step(self, x, y, box, hires=None) -> dict[str, float]:
        self.attention.eval()
        with torch.no_grad():
            smap = self.attention(x)
        xs = self.make_salient(x, smap, hires)
        self.net.train()
        zu, zv = self.parallel("hashing")(torch.cat([x, xs])).chunk(2)  # one pass: BN sees both branches
        self._record(smap, box, view_statistics(x, xs, self.relaxed(zu), self.relaxed(zv)))
        terms = self.pair_terms(gather(zu), gather(zv), gather(y))
        self.opt.zero_grad(set_to_none=True)
        terms["loss"].backward()
        self.opt.step()
        return {k: v.item() for k, v in terms.items()}

    # -- step 2: the attention through the frozen hashing network ------------------------------------------
    def attention_step(self, x, y, box, hires=None) -> dict[str, float]:
        self._freeze_hashing()
        self.attention.train()
        try:
            y = gather(y)
            s = similarity(y, y)  # the global batch's pairs (dsah.distributed)
            zu = None  # the original pair's outputs: a target only for the saliency losses that rank against it
            if self.loss_form != "none":
                with torch.no_grad():  # the frozen network unwrapped: it all-reduces nothing
                    zu = gather(self.net(x))
            smap = self.parallel("attention")(x)
            zv = gather(self.net(self.make_salient(x, smap, hires)))
            loss = sal = self.saliency_term(zu, zv, y, s)
            if self.cfg.step2_semantic_weight and self.loss_form != "none":
                loss = loss + self.cfg.step2_semantic_weight * self.view_loss(zv, y, s)
            if self.cfg.regularizer == "area":
                loss = loss + self.cfg.regularizer_weight * smap.mean()
            elif self.cfg.regularizer == "tv":
                tv = (smap[..., 1:, :] - smap[..., :-1, :]).abs().mean() + (smap[..., 1:] - smap[..., :-1]).abs().mean()
                loss = loss + self.cfg.regularizer_weight * tv
            self.att_opt.zero_grad(set_to_none=True)
            loss.backward()
            self.att_opt.step()
        finally:
            self._unfreeze_hashing()
        return {"saliency": sal.item(), "attention_loss": loss.item()}

    def view_loss(self, zv, y, s) -> torch.Tensor:
        """The base's loss on the salient view alone: the no-saliency-loss ablation's step 2, and the
        optional attention.step2_semantic_weight term."""
        return self.loss(zv, y)["loss"]

    def saliency_term(self, zu, zv, y, s) -> torch.Tensor:
        if self.loss_form == "none":
            return self.view_loss(zv, y, s)  # no ranking against the original pair
        u, v = self.relaxed(zu), self.relaxed(zv)
        if self.loss_form == "ranking":
            return saliency_ranking_loss(u, v, s, self.margin, self.theta_c)
        return saliency_distance_loss(u, v, s, self.margin)

    def _freeze_hashing(self) -> None:
        """Frozen: no parameter gradients (the input gradient still flows to phi), no statistics update.

        frozen_norm=running: normalisation layers use their running statistics, so dimming or
        brightening every pixel changes the codes. frozen_norm=batch: they use the batch's own
        statistics (without updating the running ones), so a uniform change of the whole batch's
        maps changes nothing and only where the map is high or low matters.
        """
        self.net.requires_grad_(False)
        if self.cfg.frozen_norm == "running":
            self.net.eval()
            return
        self.net.train()
        self._momenta = {}
        for mod in self.net.modules():
            if isinstance(mod, torch.nn.modules.batchnorm._BatchNorm):
                self._momenta[mod] = (mod.momentum, mod.num_batches_tracked.clone())
                mod.momentum = 0.0  # running = (1 - 0) running + 0 batch: unchanged

    def _unfreeze_hashing(self) -> None:
        for mod, (momentum, tracked) in getattr(self, "_momenta", {}).items():
            mod.momentum = momentum
            mod.num_batches_tracked.copy_(tracked)
        self._momenta = {}
        self.net.requires_grad_(True)
        self.net.train()

    # -- map statistics: a collapse to all-ones or all-zeros, or a flat map, shows in the log -------------
    @torch.no_grad()
    def _record(self, smap, box, extra: dict[str, float] | None = None) -> None:
        stats = {**map_statistics(smap, box), **(extra or {})}
        n = len(smap)
        for k, val in stats.items():
            self._stats[k] = self._stats.get(k, 0.0) + val * n
        self._n_maps += n

    def end_epoch(self):
        row = {k: v / max(self._n_maps, 1) for k, v in self._stats.items()}
        row.update(super().end_epoch())  # the base's schedule and statistics
        if self._is_attention_epoch(self.epoch):  # the attention's schedule advances only when it learned
            self.att_sched.step()
        self.epoch += 1
        self.batch = 0
        self._stats, self._n_maps = {}, 0
        return row

    # -- retrieval -------------------------------------------------------------------------------
    @torch.no_grad()
    def saliency(self, x: torch.Tensor) -> torch.Tensor:
        self.attention.eval()
        return self.attention(x)

    @torch.no_grad()
    def salient_image(self, x: torch.Tensor, hires=None) -> torch.Tensor:
        """The (normalised) salient image the hashing network encodes at retrieval."""
        return self.make_salient(x, self.saliency(x), hires)

    @torch.no_grad()
    def encode(self, x, box, hires=None):
        self.net.eval()
        if self.code_branch == "original":
            return self.relaxed(self.net(x))
        v = self.relaxed(self.net(self.salient_image(x, hires)))
        if self.code_branch == "fused":
            return 0.5 * (self.relaxed(self.net(x)) + v)  # sign(u + v): still K bits
        return v


class Dsah(Attention, HashOnly):
    """DSaH: the attention plug-in over `hash_only`, with DSaH's own step-1 formula (and cross term)."""

    name = "dsah"
    description = "attention network + shared hashing network, saliency loss, two-step training"
    reference = "hash_only"  # the same hashing network without attention

    def pair_terms(self, u, v, y) -> dict[str, torch.Tensor]:
        s = similarity(y, y)
        theta = self.theta()
        sem = pairwise_loss(u, u, s, scale=theta) + pairwise_loss(v, v, s, scale=theta)
        if self.cfg.cross_term:
            sem = sem + pairwise_loss(u, v, s, exclude_self=False, scale=theta)
        quant = quantization_loss(u) + quantization_loss(v)
        return {"loss": sem + self.params.train.quant_weight * quant, "semantic": sem, "quantization": quant}

    def view_loss(self, v, y, s) -> torch.Tensor:
        return pairwise_loss(v, v, s, scale=self.theta())  # L_sem(v, v)


@torch.no_grad()
def map_statistics(smap: torch.Tensor, box: torch.Tensor) -> dict[str, float]:
    """Mean map value, share of pixels above 0.5, share of map mass inside the object box, and `map_std`:
    the spatial standard deviation of each map, averaged — near 0 when the maps are flat (the attention
    has not engaged: a flat map's zoom view is the plain image, and DSaH then trains like hash_only)."""
    flat = smap.flatten(1)
    mass = flat.sum(1).clamp_min(1e-12)
    return {
        "map_mean": smap.mean().item(),
        "map_above_half": (smap > 0.5).float().mean().item(),
        "map_in_object": ((smap * box).flatten(1).sum(1) / mass).mean().item(),
        "map_std": flat.float().std(dim=1).mean().item(),
    }


@torch.no_grad()
def view_statistics(x: torch.Tensor, xs: torch.Tensor, u: torch.Tensor, v: torch.Tensor) -> dict[str, float]:
    """How far the salient view is from the image: its mean absolute pixel change relative to the image's
    mean absolute value, and the share of code bits on which sign(u) and sign(v) agree (1: the salient
    view changes no bit)."""
    return {
        "view_change": ((xs - x).abs().mean() / x.abs().mean().clamp_min(1e-12)).item(),
        "bits_equal_uv": (torch.sign(u) == torch.sign(v)).float().mean().item(),
    }
