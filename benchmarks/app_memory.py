#!/usr/bin/env python
"""Peak memory of the web app restoring one photo, measured on the server process itself.

Starts ``python -m scgan_lightning.app`` as a user does (in an empty folder), uploads one photo
through the page in Chromium (Debian's ``/usr/bin/chromium``, driven by Playwright), waits for
the result, and reads the server's ``VmRSS`` once it is ready and its ``VmHWM`` (the peak
resident memory of its own address space; not ``ru_maxrss``, which a child inherits from its
parent) once the photo is done. ``--megapixels N`` first enlarges the photo (bicubic) to N
megapixels, to measure at the app's pixel limit; ``--screenshot PATH`` saves the page with the
result (the README's picture). Without ``--photo``: the photo with the most pixels in
``../shared/data/photos``.

Usage: python benchmarks/app_memory.py [--photo P] [--megapixels N] [--screenshot PATH]
"""

from __future__ import annotations

import argparse
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
PHOTOS = ROOT.parent / "shared" / "data" / "photos"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def largest_photo() -> Path:
    def pixels(path: Path) -> int:
        with Image.open(path) as image:
            return image.width * image.height

    return max(sorted(PHOTOS.glob("*.jpg")), key=pixels)


def status_mib(pid: int, key: str) -> float:
    """``VmRSS`` / ``VmHWM`` of process ``pid``, in MiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1]) / 1024
    raise KeyError(key)


def start_app(cwd: Path, app_args: list[str]) -> tuple[subprocess.Popen, str]:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    command = [sys.executable, "-m", "scgan_lightning.app", f"port={port}", *app_args]
    server = subprocess.Popen(command, cwd=cwd, stdout=subprocess.PIPE, text=True)
    for line in server.stdout:
        print(f"  app: {line.rstrip()}")
        if line.startswith("serving on"):
            return server, line.split()[2]
    raise RuntimeError(f"the app exited with status {server.wait()}")


def restore_in_browser(url: str, photo: Path, screenshot: Path | None) -> tuple[str, float]:
    from playwright.sync_api import expect, sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS
        )
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.goto(url)
        page.set_input_files("#photo-input input[type=file]", str(photo))
        page.locator(f'#photo-input td.filename[aria-label="{photo.name}"]').wait_for()
        start = time.perf_counter()
        page.click("#photo-go")
        status = page.locator("#photo-status")
        expect(status).to_contain_text(re.compile(r"Restored\.|Not restored:"), timeout=900_000)
        seconds = time.perf_counter() - start
        if screenshot:
            page.wait_for_load_state("networkidle")
            page.screenshot(path=str(screenshot), full_page=True)
        text = status.inner_text()
        browser.close()
    return text, seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--photo", type=Path, help="default: the largest shared photo")
    parser.add_argument("--megapixels", type=float, help="enlarge the photo to this size first")
    parser.add_argument("--screenshot", type=Path, help="save the page with the result here")
    parser.add_argument("--app-args", nargs="*", default=[], help="e.g. max_megapixels=20")
    args = parser.parse_args()
    photo = args.photo or largest_photo()
    with tempfile.TemporaryDirectory(prefix="app-memory-") as scratch:
        if args.megapixels:
            with Image.open(photo) as image:
                factor = (args.megapixels * 1e6 / (image.width * image.height)) ** 0.5
                size = (round(image.width * factor), round(image.height * factor))
                enlarged = Path(scratch, f"{photo.stem}_{size[0]}x{size[1]}.jpg")
                image.convert("RGB").resize(size, Image.Resampling.BICUBIC).save(
                    enlarged, quality=92
                )
            photo = enlarged
        cwd = Path(scratch, "cwd")
        cwd.mkdir()
        server, url = start_app(cwd, args.app_args)
        try:
            ready = status_mib(server.pid, "VmRSS")
            status, seconds = restore_in_browser(url, photo, args.screenshot)
            peak = status_mib(server.pid, "VmHWM")
        finally:
            server.send_signal(signal.SIGTERM)
            server.wait(120)
        with Image.open(photo) as image:
            size = f"{image.width}x{image.height}"
    load = os.getloadavg()[0]
    print(f"photo: {photo.name} ({size})")
    print(f"page: {status}")
    print(f"server RSS when ready: {ready:,.0f} MiB; peak RSS (VmHWM): {peak:,.0f} MiB")
    print(f"upload to result: {seconds:.1f} s (load average {load:.1f}, {os.cpu_count()} CPUs)")


if __name__ == "__main__":
    main()
