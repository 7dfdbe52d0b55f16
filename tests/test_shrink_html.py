"""The report stage's figure re-encoder: smaller page, same image size, still a PNG, atomic in place."""
import base64
import io
import subprocess
import sys

import numpy as np
from PIL import Image

from tests.conftest import ROOT


def _png(seed=0) -> bytes:
    rng = np.random.default_rng(seed)
    smooth = np.cumsum(np.cumsum(rng.normal(size=(120, 160, 3)), 0), 1)  # a photo-like, many-colour image
    img = ((smooth - smooth.min()) / np.ptp(smooth) * 255).astype(np.uint8)
    out = io.BytesIO()
    Image.fromarray(img).save(out, format="PNG")
    return out.getvalue()


def test_figures_are_re_encoded_smaller_and_stay_valid_pngs(tmp_path):
    raw = _png()
    page = tmp_path / "report.html"
    page.write_text(f'<html><img src="data:image/png;base64,{base64.b64encode(raw).decode()}"/><p>text</p></html>')
    subprocess.run([sys.executable, "dsah/cli/shrink_html.py", str(page)], cwd=ROOT, check=True, capture_output=True)
    text = page.read_text()
    assert "<p>text</p>" in text and len(text) < len(base64.b64encode(raw))
    data = base64.b64decode(text.split("base64,")[1].split('"')[0])
    img = Image.open(io.BytesIO(data))
    assert img.format == "PNG" and img.size == (160, 120)
    assert list(tmp_path.iterdir()) == [page]  # no temporary file left behind
