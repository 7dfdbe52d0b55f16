"""Gathering the pipeline's results for the report notebook."""
from __future__ import annotations

import csv
import json

from dsah.paths import Layout


def collect(layout: Layout, methods: list[str], bits: list[int]) -> tuple[list[dict], list[str]]:
    """Metrics of every (method, bits) the parameters ask for, and the names of those missing."""
    rows, missing = [], []
    for m in methods:
        for b in bits:
            path = layout.metrics(m, b)
            if path.is_file():
                rows.append(json.loads(path.read_text()))
            else:
                missing.append(f"{m}-{b}")
    return rows, missing


def histories(layout: Layout, methods: list[str], bits: list[int]) -> dict[str, list[dict]]:
    out = {}
    for m in methods:
        for b in bits:
            path = layout.history(m, b)
            if path.is_file():
                with open(path) as f:
                    out[f"{m}-{b}"] = [{k: float(v) for k, v in row.items() if v != ""} for row in csv.DictReader(f)]
    return out


def curves(layout: Layout, methods: list[str], bits: list[int]) -> dict[str, dict[str, list[dict]]]:
    """The evaluate stage's precision-recall records: {run: {"radius": [...], "rank": [...]}}."""
    out = {}
    for m in methods:
        for b in bits:
            paths = {kind: layout.curves(kind, m, b) for kind in ("radius", "rank")}
            if all(p.is_file() for p in paths.values()):
                out[f"{m}-{b}"] = {kind: json.loads(p.read_text()) for kind, p in paths.items()}
    return out


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
    lines = ["| run | pointing game | chance | map mass in object box | chance (box area) |", "|---|---:|---:|---:|---:|"]
    for m in methods:
        for b in bits:
            if (m, b) in by:
                r = by[(m, b)]
                lines.append(f"| {m}-{b} | {r['pointing_game']:.3f} | {r['pointing_chance']:.3f} | "
                             f"{r['map_mass_in_object']:.3f} | {r['map_mass_chance']:.3f} |")
    return "\n".join(lines)


def headroom_share(rows: list[dict], bits: list[int], method: str, better: str = "oracle_mask",
                   base: str = "hash_only") -> dict[int, tuple[float, float]]:
    """(mAP points won over `base`, share of the oracle's headroom won) of `method` at each code length."""
    by = {(r["method"], r["bits"]): r["map_all"] for r in rows}
    out = {}
    for b in bits:
        if all((m, b) in by for m in (method, better, base)):
            gain, room = by[(method, b)] - by[(base, b)], by[(better, b)] - by[(base, b)]
            out[b] = (100 * gain, gain / room if room > 0 else float("nan"))
    return out


def headroom(rows: list[dict], bits: list[int], better: str = "oracle_mask", base: str = "hash_only") -> dict[int, float]:
    """mAP points by which `better` beats `base` at each code length."""
    by = {(r["method"], r["bits"]): r["map_all"] for r in rows}
    return {b: 100 * (by[(better, b)] - by[(base, b)]) for b in bits if (better, b) in by and (base, b) in by}
