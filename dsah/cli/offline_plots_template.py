"""Write .dvc/plots/offline.html: DVC's plots page with vega, vega-lite and vega-embed inlined.

`dvc plots show` writes a page that loads these three scripts from a CDN, so offline it is blank.
DVC fills an HTML template's `{plot_divs}` and `{scripts}` (where its CDN tags go); this template has
no `{scripts}` and carries the scripts themselves, at the versions DVC's renderer asks for, taken from
their npm packages (`npm pack`, checked against the registry's sha512 integrity pinned below).
.dvc/config points `plots.html_template` at it. Run once when the versions change:

    python -m dsah.cli.offline_plots_template            # needs npm and the npm registry
"""
from __future__ import annotations

import base64
import hashlib
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

# (package, version, file in the package, the registry's sha512 integrity of the tarball)
PACKAGES = [
    ("vega", "5.20.2", "package/build/vega.min.js",
     "qmH7aD9GGPpssVdxL1xgcdxTbQzyRUeRR16Os385ymvQhiwCYQNA6+eXUPAZDTVLfk0RXu6Jzj6kUE5jQ80EVw=="),
    ("vega-lite", "5.2.0", "package/build/vega-lite.min.js",
     "Yxcg8MvYfxHcG6BbkaKT0oVCIMIcE19UvqIsEwBmyd/7h2nzW7oRnID81T8UrY7hpDrIr6wa2JADOT2dhGNErw=="),
    ("vega-embed", "6.18.2", "package/build/vega-embed.min.js",
     "wcDyQPE4J5aiCDc3/suH5RQDvrKkjuLkhzUcbOLwEkNF8/+pp17tS0JghzEvAPNRg+5aG1/N2ydixq8Lk3dOlg=="),
]

PAGE = """<!DOCTYPE html>
<html>
<head>
    {refresh_tag}
    <meta charset="utf-8">
    <title>dsah plots</title>
    <!-- {versions}: inlined by dsah/cli/offline_plots_template.py, so the page renders offline -->
{inline}
    <style>
        body {{ font-family: sans-serif; }}
        table {{ border-spacing: 15px; }}
    </style>
</head>
<body>
    {plot_divs}
</body>
</html>
"""


def fetch(name: str, version: str, member: str, integrity: str, where: Path) -> str:
    out = subprocess.run(["npm", "pack", f"{name}@{version}", "--silent"], cwd=where, capture_output=True,
                         text=True, check=True).stdout.strip().splitlines()[-1]
    tgz = where / out
    digest = base64.b64encode(hashlib.sha512(tgz.read_bytes()).digest()).decode()
    if digest != integrity:
        raise SystemExit(f"{tgz}: sha512 {digest} is not the pinned {integrity}")
    with tarfile.open(tgz) as t:
        js = t.extractfile(member).read().decode("utf-8")
    if "</script" in js.lower():
        raise SystemExit(f"{name}@{version}/{member} contains '</script': cannot be inlined")
    return js


def main(out: str = ".dvc/plots/offline.html") -> int:
    with tempfile.TemporaryDirectory() as tmp:
        scripts = [fetch(*p, Path(tmp)) for p in PACKAGES]
    inline = "\n".join(f"    <script>/* {n}@{v} */\n{js}\n    </script>" for (n, v, _, _), js in zip(PACKAGES, scripts))
    versions = ", ".join(f"{n}@{v}" for n, v, _, _ in PACKAGES)
    # keep DVC's placeholders ({plot_divs}, {refresh_tag}) for DVC to fill: format only ours
    page = (PAGE.replace("{refresh_tag}", "\0R").replace("{plot_divs}", "\0P")
            .replace("{versions}", versions).replace("{{", "{").replace("}}", "}"))
    page = page.replace("{inline}", inline).replace("\0R", "{refresh_tag}").replace("\0P", "{plot_divs}")
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    Path(out).write_text(page, encoding="utf-8")
    print(f"wrote {out} ({len(page) / 1e6:.2f} MB): {versions}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(*sys.argv[1:]))
