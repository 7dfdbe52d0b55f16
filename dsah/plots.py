"""Figures for the notebooks (matplotlib; each function returns the figure)."""
from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.patches import Rectangle

from dsah.data.records import readable_class


def sample_grid(split, class_names, classes=8, per_class=4, part_size=None, seed=0):
    """Images of the first `classes` classes, with the object box (green) and part centre (red)."""
    rng = np.random.default_rng(seed)
    classes = min(classes, len(class_names))
    fig, axes = plt.subplots(per_class, classes, figsize=(1.6 * classes, 1.7 * per_class), squeeze=False)
    for c in range(classes):
        idx = np.flatnonzero(split.labels == c)
        pick = rng.choice(idx, size=min(per_class, len(idx)), replace=False)
        for r in range(per_class):
            ax = axes[r, c]
            ax.axis("off")
            if r >= len(pick):
                continue
            i = pick[r]
            ax.imshow(split.images[i].transpose(1, 2, 0), interpolation="nearest")
            x, y, w, h = split.boxes[i]
            if np.isfinite([x, y, w, h]).all():
                ax.add_patch(Rectangle((x - 0.5, y - 0.5), w, h, fill=False, ec="lime", lw=1))
            if split.parts.shape[1] and split.parts[i, 0, 2] > 0:
                px, py = split.parts[i, 0, :2]
                if part_size:
                    ax.add_patch(Rectangle((px - part_size / 2 - 0.5, py - part_size / 2 - 0.5), part_size, part_size,
                                           fill=False, ec="red", lw=1))
                else:
                    ax.plot(px - 0.5, py - 0.5, "r+", ms=6)
            if r == 0:
                ax.set_title(readable_class(class_names[c]), fontsize=7)
    fig.suptitle("samples: object box (green), discriminative part (red)", fontsize=9)
    fig.tight_layout()
    return fig


def training_curves(histories: dict[str, list[dict]], keys=("loss", "semantic", "quantization")):
    """One panel per loss term, one line per run; None when no run logged any of `keys` (LSH, ITQ:
    fitted once, no epochs)."""
    keys = [k for k in keys if any(k in row for h in histories.values() for row in h)]
    if not keys:
        return None
    fig, axes = plt.subplots(1, len(keys), figsize=(4.2 * len(keys), 3.2), squeeze=False)
    for ax, key in zip(axes[0], keys):
        for name, hist in sorted(histories.items()):
            ep = [row["epoch"] for row in hist if key in row]
            ax.plot(ep, [row[key] for row in hist if key in row], label=name, lw=1.2)
        ax.set_xlabel("epoch")
        ax.set_title(key)
        ax.grid(alpha=0.3)
    axes[0][-1].legend(fontsize=7, loc="upper right")
    fig.tight_layout()
    return fig


def map_vs_bits(rows: list[dict], chance: float | None = None):
    """mAP against code length, one line per method."""
    fig, ax = plt.subplots(figsize=(5, 3.4))
    for method in sorted({r["method"] for r in rows}):
        pts = sorted((r["bits"], r["map_all"]) for r in rows if r["method"] == method)
        ax.plot([p[0] for p in pts], [p[1] for p in pts], "o-", label=method)
    if chance is not None:
        ax.axhline(chance, color="grey", ls="--", lw=1, label="chance")
    ax.set_xlabel("bits")
    ax.set_ylabel("mAP@all")
    ax.set_ylim(0, 1)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def distance_histogram(query, database, q_labels, db_labels, max_queries=500):
    """Hamming distances of relevant vs irrelevant query-database pairs."""
    from dsah.metrics import hamming, relevance

    d = hamming(query[:max_queries], database)
    rel = relevance(q_labels[:max_queries], db_labels)
    k = query.shape[1]
    fig, ax = plt.subplots(figsize=(5, 3.2))
    bins = np.arange(k + 2) - 0.5
    ax.hist(d[~rel], bins=bins, density=True, alpha=0.6, label="different class")
    ax.hist(d[rel], bins=bins, density=True, alpha=0.6, label="same class")
    ax.set_xlabel("Hamming distance")
    ax.set_ylabel("share of pairs")
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def _salient_display(image_u8: np.ndarray, smap: np.ndarray, mean) -> np.ndarray:
    """What the hashing network sees, shown in colour: pixels fade to the dataset mean where the map is low."""
    img = image_u8.transpose(1, 2, 0) / 255.0
    m = np.asarray(mean, dtype=float)[None, None, :]
    return np.clip(m + (img - m) * smap[..., None], 0, 1)


def saliency_examples(images: np.ndarray, maps: np.ndarray, mean, titles=None, boxes=None, parts=None,
                      part_size: float | None = None, views: np.ndarray | None = None):
    """Three rows per query: the image (object box green, the discriminative part red: its square where
    the dataset has a part size, else its point), the map over the image in colour with its peak (+)
    and a colour bar, and the salient image the hashing network sees (`views`, uint8 like `images`;
    without them the image faded to the mean where the map is low)."""
    n = len(images)
    fig, axes = plt.subplots(3, n, figsize=(1.6 * n + 0.6, 5.0), squeeze=False)
    shown = None
    for i in range(n):
        img = images[i].transpose(1, 2, 0)
        axes[0, i].imshow(img, interpolation="nearest")
        if boxes is not None and np.isfinite(boxes[i]).all():
            x, y, w, h = boxes[i]
            axes[0, i].add_patch(Rectangle((x - 0.5, y - 0.5), w, h, fill=False, ec="lime", lw=1.5))
        if parts is not None and len(parts[i]) and parts[i][0][2] > 0:
            px, py = parts[i][0][:2]
            if part_size:
                axes[0, i].add_patch(Rectangle((px - part_size / 2 - 0.5, py - part_size / 2 - 0.5), part_size, part_size,
                                               fill=False, ec="red", lw=1.5))
            else:
                axes[0, i].plot(px, py, "o", mfc="none", mec="red", ms=6)
        axes[1, i].imshow(img.mean(axis=2), cmap="gray", interpolation="nearest")
        shown = axes[1, i].imshow(maps[i], vmin=0, vmax=1, cmap="inferno", alpha=0.6, interpolation="bilinear")
        shown_view = views[i].transpose(1, 2, 0) if views is not None else _salient_display(images[i], maps[i], mean)
        axes[2, i].imshow(shown_view, interpolation="nearest")
        peak = np.unravel_index(np.argmax(maps[i]), maps[i].shape)
        axes[1, i].plot(peak[1], peak[0], "+", color="cyan", ms=9, mew=2)
        if titles is not None:
            axes[0, i].set_title(titles[i], fontsize=7)
        for ax in axes[:, i]:
            ax.axis("off")
    for r, label in enumerate(("image, box, part", "map over image (peak +)", "salient image")):
        axes[r, 0].text(-0.1, 0.5, label, transform=axes[r, 0].transAxes, rotation=90, va="center", ha="right",
                        fontsize=8)
    fig.tight_layout(rect=(0, 0, 0.93, 1))
    if shown is not None:
        cax = fig.add_axes((0.945, 0.38, 0.012, 0.24))
        fig.colorbar(shown, cax=cax).ax.tick_params(labelsize=6)
    return fig


def training_curves_by_method(histories: dict[str, list[dict]], key: str = "loss", per_row: int = 4):
    """One panel per method, one line per code length: `key` per epoch ("<method>-<bits>" histories)."""
    by_method: dict[str, dict[int, list[dict]]] = {}
    for name, hist in histories.items():
        m, b = name.rsplit("-", 1)
        if any(key in row for row in hist):
            by_method.setdefault(m, {})[int(b)] = hist
    if not by_method:
        return None
    rows = (len(by_method) + per_row - 1) // per_row
    fig, axes = plt.subplots(rows, min(per_row, len(by_method)), figsize=(3.2 * min(per_row, len(by_method)), 2.5 * rows),
                             squeeze=False)
    colours = plt.get_cmap("viridis")
    for ax, (m, runs) in zip(axes.flat, by_method.items()):
        lengths = sorted(runs)
        for j, b in enumerate(lengths):
            h = [row for row in runs[b] if key in row]
            ax.plot([r["epoch"] for r in h], [r[key] for r in h], lw=1.4, label=f"{b} bits",
                    color=colours(j / max(1, len(lengths) - 1) * 0.85))
        ax.set_title(m, fontsize=9)
        ax.set_xlabel("epoch", fontsize=8)
        ax.grid(alpha=0.3)
        ax.tick_params(labelsize=7)
    for ax in list(axes.flat)[len(by_method):]:
        ax.axis("off")
    axes.flat[0].set_ylabel(key, fontsize=8)
    handles, labels = axes.flat[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=len(labels), fontsize=8, frameon=False)
    fig.tight_layout(rect=(0, 0.06, 1, 1))
    return fig


def map_snapshots(images: np.ndarray, epochs: list[int], maps: list[np.ndarray]):
    """Saliency maps of fixed training images (columns) after several epochs (rows)."""
    n = len(images)
    fig, axes = plt.subplots(len(epochs) + 1, n, figsize=(1.4 * n, 1.45 * (len(epochs) + 1)), squeeze=False)
    for i in range(n):
        axes[0, i].imshow(images[i].transpose(1, 2, 0), interpolation="nearest")
        for r, (e, m) in enumerate(zip(epochs, maps), start=1):
            axes[r, i].imshow(np.asarray(m[i], dtype=float) / 255.0, vmin=0, vmax=1, cmap="viridis",
                              interpolation="nearest")
        for ax in axes[:, i]:
            ax.set_xticks([])
            ax.set_yticks([])
    axes[0, 0].set_ylabel("image", fontsize=8)
    for r, e in enumerate(epochs, start=1):
        axes[r, 0].set_ylabel(f"epoch {e}", fontsize=8)
    fig.tight_layout()
    return fig


def pr_curves(curves: dict[str, dict[str, list[dict]]], bits: list[int]):
    """One row per code length: precision-recall by Hamming radius, by rank, and precision@N."""
    fig, axes = plt.subplots(len(bits), 3, figsize=(12, 3.1 * len(bits)), squeeze=False, dpi=72)
    for row, b in zip(axes, bits):
        for run, c in sorted(curves.items()):
            if not run.endswith(f"-{b}"):
                continue
            name = run[: -len(f"-{b}")]
            rank = c["rank"]
            if "radius" in c:  # a quantization method (DTQ) has no Hamming radius
                rad = c["radius"]
                row[0].plot([r["recall"] for r in rad], [r["precision"] for r in rad], ".-", lw=1, ms=3, label=name)
            row[1].plot([r["recall"] for r in rank], [r["precision"] for r in rank], "-", lw=1.2, label=name)
            row[2].plot([r["n"] for r in rank], [r["precision"] for r in rank], "-", lw=1.2, label=name)
        row[0].set(xlabel="recall", ylabel="precision", title=f"{b} bits: PR by Hamming radius")
        row[1].set(xlabel="recall", ylabel="precision", title=f"{b} bits: PR by rank")
        row[2].set(xlabel="N (log)", ylabel="precision@N", title=f"{b} bits: precision@N", xscale="log")
        for ax in row:
            ax.set_ylim(0, 1.02)
            ax.grid(alpha=0.3)
        row[2].legend(fontsize=7)
    fig.tight_layout()
    return fig


def retrieval_grid(query_images: np.ndarray, query_labels: np.ndarray, hits, db_images: np.ndarray, titles=None):
    """Each query (left) with its top k: green frame = same class, red = different, distance above."""
    q, k = hits.indices.shape
    right = hits.relevant(query_labels)
    # small and at a low dpi: the report is tracked by git, and thumbnails need no more
    fig, axes = plt.subplots(q, k + 1, figsize=(0.8 * (k + 1), 0.92 * q), squeeze=False, dpi=80)
    for i in range(q):
        axes[i, 0].imshow(query_images[i].transpose(1, 2, 0), interpolation="nearest")
        axes[i, 0].set_title(titles[i] if titles is not None else "query", fontsize=6)
        for j in range(k):
            ax = axes[i, j + 1]
            ax.imshow(db_images[hits.indices[i, j]].transpose(1, 2, 0), interpolation="nearest")
            ax.add_patch(Rectangle((0.02, 0.02), 0.96, 0.96, transform=ax.transAxes, fill=False, lw=5, clip_on=False,
                                   ec="limegreen" if right[i, j] else "red"))  # ~5 px at the report's dpi
            ax.set_title(f"d={hits.distances[i, j]}", fontsize=6)
        for ax in axes[i]:
            ax.set_xticks([])
            ax.set_yticks([])
    fig.tight_layout()
    return fig
