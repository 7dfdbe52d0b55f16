"""Gathering the pipeline's results for the report notebook."""
from __future__ import annotations

import csv
import json
from itertools import product
from pathlib import Path

import numpy as np

from dsah.paths import Layout, run_name


def collect(layout: Layout, methods: list[str], bits: list[int], seeds=(0,)) -> tuple[list[dict], list[str]]:
    """Metrics of every (method, bits, seed) the parameters ask for, and the names of those missing."""
    rows, missing = [], []
    for m, b, s in product(methods, bits, seeds):
        path, about = layout.metrics(m, b, s), layout.provenance(m, b, s)
        if path.is_file():  # the headline numbers; every number and what the run is from its provenance
            record = json.loads(about.read_text()) if about.is_file() else {}
            rows.append({"method": m, "bits": b, "seed": s, **record.get("run", {}), **record.get("metrics", {}),
                         **json.loads(path.read_text())})
        else:
            missing.append(run_name(m, b, s))
    return rows, missing


def histories(layout: Layout, methods: list[str], bits: list[int], seed: int = 0) -> dict[str, list[dict]]:
    """Per-epoch training history of every (method, bits) with one seed, keyed "<method>-<bits>"."""
    out = {}
    for m, b in product(methods, bits):
        path = layout.history(m, b, seed)
        if path.is_file():
            with open(path) as f:
                out[f"{m}-{b}"] = [{k: float(v) for k, v in row.items() if v != ""} for row in csv.DictReader(f)]
    return out


def curves(layout: Layout, methods: list[str], bits: list[int], seed: int = 0) -> dict[str, dict[str, list[dict]]]:
    """The evaluate stage's precision-recall records of one seed: {"<method>-<bits>": {"radius": [...],
    "rank": [...]}} ("radius" absent for a quantization method)."""
    out = {}
    for m, b in product(methods, bits):
        paths = {kind: layout.curves(kind, m, b, seed) for kind in ("radius", "rank")}
        if paths["rank"].is_file():
            out[f"{m}-{b}"] = {kind: json.loads(p.read_text()) for kind, p in paths.items() if p.is_file()}
    return out


def aggregate(rows: list[dict]) -> list[dict]:
    """One row per (method, bits): every numeric value averaged over the seeds, `<key>_std` its sample
    standard deviation (0 for one seed), `seeds` the number of seeds."""
    groups: dict[tuple, list[dict]] = {}
    for r in rows:
        groups.setdefault((r["method"], r["bits"]), []).append(r)
    out = []
    for (m, b), rs in groups.items():
        row = dict(rs[0])
        for k, v in rs[0].items():
            if isinstance(v, (int, float)) and not isinstance(v, bool) and k not in ("bits", "seed"):
                vals = np.array([r[k] for r in rs if k in r], dtype=float)
                row[k] = float(vals.mean())
                row[f"{k}_std"] = float(vals.std(ddof=1)) if len(vals) > 1 else 0.0
        row["seeds"] = len(rs)
        row.pop("seed", None)
        out.append(row)
    return out


def seed_table(rows: list[dict], methods: list[str], bits: list[int], key: str = "map_tie_aware") -> str:
    """Markdown: mean ± standard deviation over seeds (n seeds) of `key`, in %."""
    by = {(r["method"], r["bits"]): r for r in aggregate(rows)}
    lines = ["| method | " + " | ".join(f"{b} bits" for b in bits) + " |", "|---|" + "---:|" * len(bits)]
    for m in methods:
        cells = [(f"{100 * by[(m, b)][key]:.1f} ± {100 * by[(m, b)][key + '_std']:.1f} ({by[(m, b)]['seeds']})"
                  if by[(m, b)]["seeds"] > 1 else f"{100 * by[(m, b)][key]:.1f} (1)")
                 if (m, b) in by else "missing" for b in bits]
        lines.append(f"| {display_name(m)} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def paired_difference(rows: list[dict], method: str, other: str, b: int, key: str = "map_tie_aware"):
    """`method` - `other` at `b` bits over the seeds both have: (mean, 95 % t half-width, std, n), in points;
    None when no seed has both."""
    from scipy import stats

    vals = {(r["method"], r["seed"]): r[key] for r in rows if r["bits"] == b and key in r}
    diffs = np.array([100 * (vals[(method, s)] - vals[(other, s)]) for (m, s) in vals
                      if m == method and (other, s) in vals])
    if len(diffs) == 0:
        return None
    sd = float(diffs.std(ddof=1)) if len(diffs) > 1 else float("nan")
    half = float(stats.t.ppf(0.975, len(diffs) - 1) * sd / np.sqrt(len(diffs))) if len(diffs) > 1 else float("nan")
    return float(diffs.mean()), half, sd, len(diffs)


def verdict(mean: float, sd: float, n: int) -> str:
    """Our rule: a gain smaller than two standard deviations (of the paired differences) is inconclusive."""
    if n < 3 or not np.isfinite(sd):
        return "fewer than 3 seeds"
    if abs(mean) < 2 * sd:
        return "inconclusive"
    return "better" if mean > 0 else "worse"


def paired_table(rows: list[dict], method: str, others: list[str], bits: list[int], key: str = "map_tie_aware") -> str:
    """Markdown: `method` minus each other method, paired by seed: mean [95 % interval], the verdict."""
    lines = [f"| {display_name(method)} minus | " + " | ".join(f"{b} bits" for b in bits) + " |",
             "|---|" + "---|" * len(bits)]
    for o in others:
        cells = []
        for b in bits:
            d = paired_difference(rows, method, o, b, key)
            if d is None:
                cells.append("missing")
                continue
            mean, half, sd, n = d
            ci = f" [{mean - half:+.1f}, {mean + half:+.1f}]" if np.isfinite(half) else ""
            cells.append(f"{mean:+.1f}{ci} (n={n}, {verdict(mean, sd, n)})")
        lines.append(f"| {display_name(o)} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


# DSaH's relative improvement as its abstracts state it (the paper's tables were not available):
# about 10 % over DTQ on Stanford Dogs and CUB, about 12 % over DPSH in an earlier version. Keyed by the
# `paper_name` the methods declare.
PAPER_CLAIMS = {"dtq": 10.0, "dpsh": 12.0}


def relative_gains(rows: list[dict], method: str, bits: list[int], key: str = "map_tie_aware") -> str:
    """Markdown: 100 (method - base) / base of the seed means, for each base the paper's claims name (the
    method declaring that `paper_name`), beside the claim; a base without runs is left out."""
    from dsah.methods import METHODS

    by = {(r["method"], r["bits"]): r[key] for r in aggregate(rows)}
    lines = ["| over | " + " | ".join(f"{b} bits" for b in bits) + " | paper's claim |", "|---|" + "---:|" * (len(bits) + 1)]
    for paper, claim in PAPER_CLAIMS.items():
        found = next((n for n, c in METHODS.items() if c.paper_name == paper and any(m == n for m, _ in by)), None)
        if found is None:
            continue
        cells = [f"{100 * (by[(method, b)] - by[(found, b)]) / by[(found, b)]:+.1f} %"
                 if (method, b) in by and (found, b) in by and by[(found, b)] > 0 else "missing" for b in bits]
        lines.append(f"| {display_name(found)} | " + " | ".join(cells) + f" | ≈ +{claim:.0f} % |")
    return "\n".join(lines)


# Peers' published mAP (%) at 12 / 24 / 32 / 48 bits, from ../shared/reference/baselines.md section 13 (read
# from the DSHA repository's logs). Protocol "seen@seen": CUB with 190 seen classes, Stanford Dogs with
# 114; queries = test images of seen classes, database = training images of seen classes; ResNet-50
# (ImageNet); 40 x 30 iterations on 2000 sampled images; best test mAP over training. No published numbers
# at these lengths exist for Oxford Flowers or for DTQ, DPSH, GreedyHash, ITQ or LSH on these sets.
PUBLISHED = {
    "cub200": {"orthohash": (73.23, 81.00, 81.76, 82.51), "csq": (68.85, 79.46, 81.15, 81.67),
               "fish": (75.58, 76.74, 77.10, 77.73), "dsh": (32.76, 53.04, 70.39, 78.31),
               "adsh": (32.02, 57.30, 65.80, 76.48), "hashnet": (12.95, 33.52, 38.20, 45.73)},
    "stanford_dogs": {"orthohash": (80.20, 83.37, 83.81, 84.88), "csq": (73.27, 80.17, 81.52, 81.75),
             "fish": (76.01, 76.43, 76.91, 77.11), "adsh": (73.02, 84.13, 85.66, 87.42),
             "dsh": (49.8, 71.4, 80.9, 82.7), "hashnet": (38.9, 59.9, 65.5, 68.8)},
}
PUBLISHED_LENGTHS = (12, 24, 32, 48)
PUBLISHED_PROTOCOL = ("DSHA's seen@seen protocol (CUB: 190 of 200 classes, Stanford Dogs: 114 of 120; ResNet-50 "
                      "ImageNet; best test mAP over training; learned database codes for ADSH, label codes for FISH)")


def published_table(dataset: str, rows: list[dict], bits: list[int]) -> str:
    """Markdown: the peers' published numbers for this dataset, marked as theirs, beside our seed means of
    stable-order mAP (the convention published code uses); or one sentence saying there are none."""
    theirs = PUBLISHED.get(dataset)
    if theirs is None:
        return (f"No published 12/24/32/48-bit numbers exist for dataset `{dataset}` "
                "(../shared/reference/baselines.md, section 13): every number in this report is ours.")
    by = {(r["method"], r["bits"]): r["map_all"] for r in aggregate(rows)}
    shown = [b for b in bits if b in PUBLISHED_LENGTHS]
    lines = [f"Published by others under {PUBLISHED_PROTOCOL} — **theirs, a different protocol** from this "
             "run (all classes, the last epoch, our backbone and budget), so not a like-for-like comparison.",
             "", "| method | " + " | ".join(f"{b}: theirs · ours" for b in shown) + " |",
             "|---|" + "---:|" * len(shown)]
    for m, vals in theirs.items():
        cells = []
        for b in shown:
            ours = by.get((m, b))
            cells.append(f"{vals[PUBLISHED_LENGTHS.index(b)]:.1f} · " + ("—" if ours is None else f"{100 * ours:.1f}"))
        lines.append(f"| {m} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def display_name(method: str) -> str:
    """How a method is named in comparisons: DTQ is marked as quantization search."""
    from dsah import methods

    cls = methods.METHODS.get(method)
    if cls is not None and cls.search == "quantization":
        return f"{method} (PQ, asymmetric search)"
    return method


def relative_table(rows: list[dict], method: str, other: str, bits: list[int], key: str = "map_tie_aware") -> str:
    """Markdown: (mean of `method` - mean of `other`) / mean of `other`, in %, per code length."""
    by = {(r["method"], r["bits"]): r for r in aggregate(rows)}
    cells = [f"{100 * (by[(method, b)][key] / by[(other, b)][key] - 1):+.1f} %"
             if (method, b) in by and (other, b) in by else "missing" for b in bits]
    return "\n".join(["| | " + " | ".join(f"{b} bits" for b in bits) + " |", "|---|" + "---:|" * len(bits),
                      f"| {display_name(method)} vs {display_name(other)} | " + " | ".join(cells) + " |"])


def time_table(rows: list[dict], methods: list[str], bits: list[int]) -> str:
    """Markdown: training seconds per run, mean over seeds, per method and code length."""
    by = {(r["method"], r["bits"]): r for r in aggregate(rows)}
    lines = ["| method | " + " | ".join(f"{b} bits" for b in bits) + " |", "|---|" + "---:|" * len(bits)]
    for m in methods:
        cells = [f"{by[(m, b)]['train_seconds']:.0f} s" if (m, b) in by else "missing" for b in bits]
        lines.append(f"| {display_name(m)} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def metric_table(rows: list[dict], methods: list[str], bits: list[int], keys: list[str]) -> str:
    """Markdown table: one row per (method, metric), one column per code length, values in %."""
    by = {(r["method"], r["bits"]): r for r in rows}
    lines = ["| method | metric | " + " | ".join(f"{b} bits" for b in bits) + " |", "|---|---|" + "---:|" * len(bits)]
    for m in methods:
        for key in keys:
            cells = [f"{100 * by[(m, b)][key]:.1f}" if key in by.get((m, b), {}) else "missing" for b in bits]
            lines.append(f"| {m} | {key} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def tie_table(rows: list[dict], methods: list[str], bits: list[int]) -> str:
    """Markdown table of tie-aware mAP with its bounds and the stable-order value, in %."""
    by = {(r["method"], r["bits"]): r for r in rows}
    lines = ["| method | " + " | ".join(f"{b} bits" for b in bits) + " |", "|---|" + "---:|" * len(bits)]
    for m in methods:
        cells = []
        for b in bits:
            r = by.get((m, b))
            cells.append("missing" if r is None else
                         f"{100 * r['map_tie_aware']:.1f} [{100 * r['map_lower']:.1f}, {100 * r['map_upper']:.1f}] "
                         f"· stable {100 * r['map_all']:.1f}")
        lines.append(f"| {m} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def map_table(rows: list[dict], methods: list[str], bits: list[int], key: str = "map_all") -> str:
    """Markdown table: one row per method, one column per code length, values in mAP points (%)."""
    by = {(r["method"], r["bits"]): r for r in rows}
    lines = ["| method | " + " | ".join(f"{b} bits" for b in bits) + " |", "|---|" + "---:|" * len(bits)]
    for m in methods:
        cells = [f"{100 * by[(m, b)][key]:.1f}" if (m, b) in by else "missing" for b in bits]
        lines.append(f"| {m} | " + " | ".join(cells) + " |")
    chance = {r["chance_map"] for r in rows}
    if chance:
        c = sum(chance) / len(chance)
        lines.append("| *chance (random ranking)* | " + " | ".join(f"{100 * c:.1f}" for _ in bits) + " |")
    return "\n".join(lines)


def saliency_table(rows: list[dict], methods: list[str], bits: list[int]) -> str:
    """Markdown table of the pointing game (and chance) and the map mass inside the object box."""
    by = {(r["method"], r["bits"]): r for r in rows if "pointing_game" in r}
    if not by:
        return ("No run has a ground-truth object box or part position to score its map against (this dataset "
                "has none): no pointing game. The saliency figure above is the only look at the maps.")
    lines = ["| run | pointing game | chance | map mass in object box | chance (box area) |", "|---|---:|---:|---:|---:|"]
    for m in methods:
        for b in bits:
            if (m, b) in by:
                r = by[(m, b)]
                lines.append(f"| {m}-{b} | {r['pointing_game']:.3f} | {r['pointing_chance']:.3f} | "
                             f"{r['map_mass_in_object']:.3f} | {r['map_mass_chance']:.3f} |")
    return "\n".join(lines)


FLAT_MAP_STD = 0.02  # a map whose spatial standard deviation is below this is flat: its salient view is the image
AT_MARGIN = 0.98     # the distance-form saliency hinge at this share of its margin or above sorts no pair


def engagement_table(hist: dict[str, list[dict]], params) -> str:
    """Markdown: did each attention run's attention engage? From the last epoch of its history: `map_std`
    (flat below FLAT_MAP_STD), the distance-form saliency hinge over its margin (at AT_MARGIN or above the
    salient pairs are sorted no better than the original pairs, whatever the map), the share of bits with
    the same sign in both views, and that reading. Thresholds: docs/dogs.md."""
    from dsah.methods import METHODS

    a = params.attention
    lines = ["| run | map_std | saliency hinge / margin | same sign in both views | reading |",
             "|---|---:|---:|---:|---|"]
    for name, rows in hist.items():
        if not rows or "map_std" not in rows[-1]:
            continue
        method, bits = name.rsplit("-", 1)
        last = rows[-1]
        form = METHODS[method].saliency_loss or params.attention.saliency_loss
        scale = int(bits) / a.margin_bits if a.margin_bits else 1.0  # as the attention method scales its margin
        margin = a.margin * scale if form == "distance" else 0.0
        ratio = last["saliency"] / margin if margin > 0 and "saliency" in last else None
        if last["map_std"] < FLAT_MAP_STD:
            reading = "flat map: the salient view is the image"
        elif ratio is None:
            reading = "the map is not flat (no hinge to read)"
        elif ratio >= AT_MARGIN:
            reading = "hinge at its margin: the map moves, the codes are not sorted by it"
        else:
            reading = "engaged: the hinge is below its margin"
        same = f"{last['bits_equal_uv']:.2f}" if "bits_equal_uv" in last else "—"
        lines.append(f"| {name} | {last['map_std']:.3f} | {'—' if ratio is None else f'{ratio:.2f}'} | {same} | "
                     f"{reading} |")
    return "\n".join(lines)


def headroom_share(rows: list[dict], bits: list[int], method: str, better: str | None = None,
                   base: str | None = None) -> dict[int, tuple[float, float]]:
    """(mAP points won over `base`, share of the oracle's headroom won) of `method` at each code length.
    By default `base` is the method's reference (its network without attention) and `better` the oracle
    on that reference (dsah.methods.oracle_of)."""
    from dsah.methods import METHODS, oracle_of

    base = base or METHODS[method].reference
    better = better or oracle_of(base)
    by = {(r["method"], r["bits"]): r["map_all"] for r in rows}
    out = {}
    for b in bits:
        if all((m, b) in by for m in (method, better, base)):
            gain, room = by[(method, b)] - by[(base, b)], by[(better, b)] - by[(base, b)]
            out[b] = (100 * gain, gain / room if room > 0 else float("nan"))
    return out


def headroom(rows: list[dict], bits: list[int], better: str, base: str) -> dict[int, float]:
    """mAP points by which `better` beats `base` at each code length."""
    by = {(r["method"], r["bits"]): r["map_all"] for r in rows}
    return {b: 100 * (by[(better, b)] - by[(base, b)]) for b in bits if (better, b) in by and (base, b) in by}


def plot_data(layout: Layout, runs: list[dict], methods: list[str], bits: list[int], seed: int = 0) -> dict[str, list[dict]]:
    """The records behind dvc.yaml's top-level plots (methods overlaid): `map_bits` (tie-aware mAP %
    per method, code length and seed), `pr` (precision-recall by rank cut-off) and `loss` (training
    loss per epoch), both of training seed `seed`, one record per point with its method and bits."""
    out = {"map_bits": [{"method": r["method"], "bits": r["bits"], "seed": r.get("seed", 0),
                         "map": round(100 * r["map_tie_aware"], 3)} for r in runs],
           "pr": [], "loss": []}
    for name, c in curves(layout, methods, bits, seed).items():
        m, b = name.rsplit("-", 1)
        out["pr"] += [{"method": m, "bits": int(b), "recall": p["recall"], "precision": p["precision"]} for p in c["rank"]]
    for name, h in histories(layout, methods, bits, seed).items():
        m, b = name.rsplit("-", 1)
        out["loss"] += [{"method": m, "bits": int(b), "epoch": int(row["epoch"]), "loss": row["loss"]}
                        for row in h if "loss" in row]
    return out


def write_plot_data(folder, data: dict[str, list[dict]]) -> None:
    """One JSON list per plot under `folder` (reports/plots), each written atomically."""
    from dsah.io import write_text

    for name, records in data.items():
        write_text(Path(folder) / f"{name}.json", json.dumps(records))


def summary(runs: list[dict], methods: list[str], bits: list[int], key: str = "map_tie_aware") -> str:
    """"What this run shows": a paragraph generated from the metrics (never typed numbers): the best
    deployable method per code length, DSaH against `hash_only` (headroom share, pointing game) and,
    with several seeds, whether the difference is more than two standard deviations."""
    rows = aggregate(runs)
    if not rows:
        return "No results yet."
    by = {(r["method"], r["bits"]): r for r in rows}
    seeds = max(r["seeds"] for r in rows)
    first = rows[0]
    out = [f"**{first.get('dataset', '?')}**, profile `{first.get('profile', '?')}`, {seeds} training seed(s), "
           f"{first.get('epochs', 0):.0f} epochs; tie-aware mAP in %" + (" (means over the seeds)." if seeds > 1 else
           " — one seed is one draw: a difference here is not yet a finding.")]
    from dsah.methods import METHODS, headline, oracle_of

    best = []
    for b in bits:
        cands = [(by[(m, b)][key], m) for m in methods if (m, b) in by and not METHODS[m].oracle]
        if cands:
            v, m = max(cands)
            best.append(f"{b} bits: `{m}` {100 * v:.1f}")
    if best:
        out.append("Best deployable method per code length — " + "; ".join(best) + ".")
    att = headline(methods)
    ref = METHODS[att].reference if att else None
    if att and ref in methods:
        parts = []
        shares = headroom_share(rows, bits, att) if oracle_of(ref) in methods else {}
        for b in bits:
            if (att, b) not in by or (ref, b) not in by:
                continue
            gain = 100 * (by[(att, b)][key] - by[(ref, b)][key])
            text = f"{b} bits {gain:+.1f}"
            if b in shares and np.isfinite(shares[b][1]):
                text += f" ({100 * shares[b][1]:.0f} % of the oracle's headroom)"
            if "pointing_game" in by[(att, b)]:
                text += f", pointing game {by[(att, b)]['pointing_game']:.2f}"
            d = paired_difference(runs, att, ref, b, key)
            if d is not None and d[3] >= 2:
                text += f", {verdict(d[0], d[2], d[3])} over {d[3]} seeds"
            parts.append(text)
        if parts:
            out.append(f"`{att}` against `{ref}` (the same network without attention): " + "; ".join(parts) + ".")
    return " ".join(out)
