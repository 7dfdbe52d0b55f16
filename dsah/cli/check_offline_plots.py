"""Render `dvc plots show`'s page in headless Chromium with the network off and check every plot drew.

    dvc plots show -o .scratch/plots && python -m dsah.cli.check_offline_plots .scratch/plots/index.html

Chromium (Debian's `chromium` package, /usr/bin/chromium) loads the page from disk with every
connection refused (a proxy at a closed port, no DNS), waits for vega to draw, then reports how many
plots the page declares, how many drew a canvas or SVG, and any script errors; a PNG screenshot is
written beside the page. Exits 1 unless every plot drew.
"""
from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

OFFLINE = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
           "--disable-background-networking", "--disable-component-update", "--disable-sync",
           "--proxy-server=http://127.0.0.1:9", "--host-resolver-rules=MAP * ~NOTFOUND",
           "--virtual-time-budget=15000", "--run-all-compositor-stages-before-draw"]


def chromium() -> str:
    exe = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
    if not exe:
        raise SystemExit("no Chromium found: install Debian's chromium package (apt-get install chromium)")
    return exe


def check(page: Path, screenshot: Path | None = None) -> dict:
    page = page.resolve()
    html = page.read_text(encoding="utf-8")
    declared = len(re.findall(r"vegaEmbed\(", html))
    with tempfile.TemporaryDirectory() as profile:
        args = [chromium(), *OFFLINE, f"--user-data-dir={profile}"]
        dom = subprocess.run([*args, "--dump-dom", page.as_uri()], capture_output=True, text=True, timeout=120).stdout
        if screenshot is not None:
            subprocess.run([*args, f"--screenshot={screenshot.resolve()}", "--window-size=1400,2400", page.as_uri()],
                           capture_output=True, text=True, timeout=120)
    # vega-embed fills each plot's div: <div class="vega-embed ..."><div class="chart-wrapper" ...><canvas width=...
    drawn = len(re.findall(r'<div[^>]*class="vega-embed[^"]*"[^>]*>(?:<div[^>]*>)?\s*<(?:canvas|svg)[^>]*width="[1-9]', dom))
    return {"declared": declared, "drawn": drawn, "cdn": "cdn.jsdelivr" in html, "bytes": len(html)}


def main(argv: list[str]) -> int:
    page = Path(argv[0] if argv else ".scratch/plots/index.html")
    if not page.is_file():
        print(f"{page}: no such page; run `dvc plots show -o {page.parent}` first", file=sys.stderr)
        return 2
    shot = page.with_suffix(".png")
    r = check(page, shot)
    print(f"{page}: {r['drawn']} of {r['declared']} plots drew offline; scripts from a CDN: {r['cdn']}; "
          f"screenshot {shot}")
    return 0 if r["declared"] and r["drawn"] == r["declared"] and not r["cdn"] else 1


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
