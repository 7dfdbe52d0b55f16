"""Re-encode the PNG figures embedded in an HTML report as 128-colour PNGs, keeping the smaller one.

    python -m dsah.cli.shrink_html reports/report.html

The report stage runs it after nbconvert: the git-tracked report.html stays small (figures are
matplotlib line and image plots; 128 colours are indistinguishable at the report's dpi). Written
atomically; a figure that would grow is left as it was.
"""
from __future__ import annotations

import base64
import io
import os
import re
import sys
import tempfile

from PIL import Image

PNG = re.compile(r"data:image/png;base64,([A-Za-z0-9+/=\s]+)")


def shrink_png(data: bytes, colours: int = 128) -> bytes:
    """A `colours`-colour (adaptive palette) PNG of `data`, or `data` itself when that is not smaller."""
    img = Image.open(io.BytesIO(data))
    quant = img.convert("RGB").quantize(colors=colours, method=Image.Quantize.MEDIANCUT)
    out = io.BytesIO()
    quant.save(out, format="PNG", optimize=True)
    return out.getvalue() if out.tell() < len(data) else data


def shrink_html(text: str) -> str:
    def one(m: re.Match) -> str:
        raw = base64.b64decode(re.sub(r"\s", "", m.group(1)))
        return "data:image/png;base64," + base64.b64encode(shrink_png(raw)).decode()

    return PNG.sub(one, text)


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print(__doc__.strip().splitlines()[2].strip(), file=sys.stderr)
        return 2
    path = argv[0]
    with open(path, encoding="utf-8") as f:
        before = f.read()
    after = shrink_html(before)
    fd, tmp = tempfile.mkstemp(dir=os.path.dirname(os.path.abspath(path)), suffix=".tmp")
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(after)
    os.replace(tmp, path)
    print(f"{path}: {len(before) / 1024:.0f} KiB -> {len(after) / 1024:.0f} KiB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
