"""Decode every image file of a dataset and list the ones that cannot be read.

`python -m dsah.cli.data check` runs this over the whole index (prepare stops at the first bad file):
a truncated JPEG or a text file named `x.jpg` is found here, all of them in one pass.
"""
from __future__ import annotations

import os
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from PIL import Image, UnidentifiedImageError
from tqdm import tqdm


def problem(path: Path) -> str | None:
    """Why `path` is not a readable image (None when it decodes completely)."""
    try:
        with Image.open(path) as im:  # the format from the content, not the extension
            im.load()  # the whole bitstream: a truncated file fails here, not at open
            if im.width < 1 or im.height < 1:
                return f"empty image ({im.width} x {im.height})"
    except FileNotFoundError:
        return "missing (listed in the dataset's index)"
    except UnidentifiedImageError:
        return "not an image PIL can identify"
    except (OSError, ValueError, SyntaxError) as err:  # PIL's decoders raise all three
        return f"unreadable ({err})"
    return None


def unreadable(paths: list[Path], workers: int | None = None, progress: bool = True) -> list[tuple[Path, str]]:
    """(path, reason) for every file that does not decode, in index order. Decoding runs on a
    thread pool (PIL releases the GIL while it decodes)."""
    workers = workers or min(8, os.cpu_count() or 1)
    with ThreadPoolExecutor(workers) as pool:
        reasons = list(tqdm(pool.map(problem, paths, chunksize=16), total=len(paths), desc="decoding",
                            unit="img", file=sys.stderr, disable=not progress, mininterval=1))
    return [(p, r) for p, r in zip(paths, reasons) if r is not None]
