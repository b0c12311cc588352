"""The web app as a user meets it: started by its command in an empty folder, driven by a
real Chromium (Debian's, ``apt-get install chromium``; Playwright's own browser download is
not reachable), with every request that would leave this computer blocked and recorded.

Marked ``slow``: ``python -m pytest -m slow tests/test_app_browser.py`` runs them (CI runs
every slow test).
"""

from __future__ import annotations

import io
import os
import re
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from PIL import Image

from .test_data_hostile import BAD_FILES, MODE_CASES, encoded, png_header_only

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]
# 1024x675 crowd: 339 faces, most of them at most 18 px (restored), 78 larger (left bicubic)
CROWD = ROOT.parent / "shared" / "data" / "photos" / "25.jpg"
DEMO = ROOT / "data" / "demo"
CHROMIUM = "/usr/bin/chromium"
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
SLOW = 900_000  # ms: a restore on a busy 2-core machine (seconds on an idle one)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Server:
    """``python -m scgan_lightning.app`` in its own folder, its console collected."""

    def __init__(self, cwd: Path, cache: Path) -> None:
        self.cwd = cwd
        env = {**os.environ, "SCGAN_CACHE_DIR": str(cache)}
        port = _free_port()
        args = [sys.executable, "-m", "scgan_lightning.app", f"port={port}"]
        args += ["precision=32", "channels_last=false"]  # no timing run at start
        self.process = subprocess.Popen(
            args, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
        )
        self.lines: list[str] = []
        self._ready = threading.Event()
        threading.Thread(target=self._read, daemon=True).start()
        if not self._ready.wait(900) or self.process.poll() is not None:
            self.process.kill()
            raise RuntimeError("the app did not start:\n" + "".join(self.lines))
        serving = re.search(r"serving on (\S+) \(uploads and results in (\S+),", self.output)
        assert serving, self.output
        self.url, self.temp = serving.group(1), Path(serving.group(2))

    def _read(self) -> None:
        for line in self.process.stdout:
            self.lines.append(line)
            if line.startswith("serving on"):
                self._ready.set()
        self._ready.set()  # exited: no need to wait any longer

    @property
    def output(self) -> str:
        return "".join(self.lines)

    def stop(self) -> int:
        self.process.send_signal(signal.SIGTERM)
        return self.process.wait(120)


@pytest.fixture(scope="module")
def server(tmp_path_factory) -> Iterator[Server]:
    """The app; when the tests are done it is stopped as a service manager stops it, and
    must leave nothing behind: not in the folder it ran in, not in its temporary folder."""
    cwd = tmp_path_factory.mktemp("cwd")
    running = Server(cwd, tmp_path_factory.mktemp("cache"))
    assert running.url.startswith("http://127.0.0.1:")  # localhost unless told otherwise
    yield running
    assert running.stop() == 0, running.output
    assert not running.temp.exists()
    assert list(cwd.iterdir()) == []
    assert "Traceback" not in running.output, running.output


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


class Tab:
    """One browser tab on the app, with every request that would leave the machine blocked
    and recorded."""

    def __init__(self, browser, url: str) -> None:
        self.url = url
        self.context = browser.new_context(viewport={"width": 1400, "height": 1000})
        self.outside: list[str] = []
        self.context.route("**/*", self._only_local)
        self.page = self.context.new_page()
        self.open()

    def _only_local(self, route) -> None:
        url = route.request.url
        if url.startswith((self.url.rstrip("/"), "data:", "blob:")):
            route.continue_()
        else:
            self.outside.append(url)
            route.abort()

    def open(self) -> None:
        self.page.goto(self.url)
        self.page.wait_for_selector("#photo-go")

    def upload(self, target: str, *files: Path) -> None:
        """Choose files in an upload box and wait until the page holds them."""
        self.page.set_input_files(f"#{target} input[type=file]", [str(f) for f in files])
        for path in files:  # the upload box lists each file it holds under its name
            self.page.locator(f'#{target} td.filename[aria-label="{path.name}"]').wait_for()

    def restore_photo(self, photo: Path) -> str:
        """Upload ``photo``, press the button and return the status line once it answers."""
        from playwright.sync_api import expect

        self.upload("photo-input", photo)
        self.page.click("#photo-go")
        status = self.page.locator("#photo-status")
        expect(status).to_contain_text(re.compile(r"Restored\.|Not restored:"), timeout=SLOW)
        return status.inner_text()

    def download(self, name: str) -> bytes:
        link = self.page.locator(f'#photo-downloads a[download="{name}"]')
        return self.page.request.get(link.get_attribute("href")).body()

    def close(self) -> None:
        self.context.close()


@pytest.fixture
def tab(browser, server) -> Iterator[Tab]:
    opened = Tab(browser, server.url)
    yield opened
    opened.close()
    assert opened.outside == []


def _cli_line(photo: Path, output: Path) -> str:
    """What ``scgan-predict mode=photo`` reports for ``photo`` (its summary line)."""
    args = [sys.executable, "-m", "scgan_lightning.predict", "mode=photo", f"input={photo}"]
    args += [f"output={output}", "precision=32", "channels_last=false", "progress=false"]
    done = subprocess.run(args, capture_output=True, text=True, timeout=1800, check=True)
    return done.stdout.strip().splitlines()[-1]


def _counts(text: str) -> tuple[int, int, int]:
    """Faces found, restored, left: from the page's ``N faces found, restored R, left M``
    or the command's summary ``faces found: N, restored R, left M``."""
    found = re.search(r"(\d+) faces found|faces found: (\d+)", text)
    policy = re.search(r"restored (\d+), left (\d+) larger than", text)
    assert found and policy, text
    return int(found.group(1) or found.group(2)), int(policy.group(1)), int(policy.group(2))


def test_the_page_loads_nothing_from_outside(server, tab):
    html = tab.page.request.get(server.url).text()
    loaded = re.findall(r"<(?:script|link|img|iframe)\b[^>]*\b(?:src|href)=\"([^\"]+)\"", html)
    assert loaded and all(not re.match(r"(https?:)?//", ref) for ref in loaded), loaded
    assert "fonts.googleapis" not in html and "cdn" not in html.lower()
    tab.page.wait_for_load_state("networkidle")
    assert tab.page.locator("text=SCGAN face restoration").first.is_visible()


def test_a_crowd_photo_comes_back_4x_with_the_faces_scgan_predict_counts(tab, tmp_path):
    assert CROWD.is_file(), f"{CROWD}: the shared crowd photos are missing"
    status = tab.restore_photo(CROWD)
    assert status.startswith("Restored. 25.jpg: 1024x675 -> 4096x2700;"), status
    assert _counts(status) == _counts(_cli_line(CROWD, tmp_path / "cli"))
    _, restored, left = _counts(status)
    assert restored > 0 and left > 0
    with Image.open(io.BytesIO(tab.download("25_x4_restored.png"))) as result:
        assert result.size == (4 * 1024, 4 * 675)
    with Image.open(tmp_path / "cli" / "25.png") as cli_result:
        assert cli_result.size == result.size
    thumbnails = tab.page.locator("#photo-faces button.thumbnail-item")
    assert thumbnails.count() == restored
    assert thumbnails.first.get_attribute("aria-label") == f"Thumbnail 1 of {restored}"
    first_row = tab.page.locator('#photo-decisions [role=row][aria-rowindex="2"]')
    assert "restored" in first_row.inner_text()
    shot = tmp_path / "page.png"
    tab.page.screenshot(path=str(shot), full_page=True)
    with Image.open(shot) as image:
        assert image.width == 1400 and image.height > 1000


def test_bad_files_are_answered_on_the_page_and_the_server_goes_on(tab, tmp_path):
    bad = {
        "truncated.jpg": BAD_FILES["truncated.jpg"],
        "text.jpg": BAD_FILES["not an image ñ.jpg"],
        "bomb.png": png_header_only(40_000, 40_000),
        "huge.png": encoded(Image.new("RGB", (4000, 3250)), "PNG"),  # 13 MP: over 12
    }
    expected = {
        "truncated.jpg": "cannot read image",
        "text.jpg": "cannot read image",
        "bomb.png": "decompression bomb",
        "huge.png": "4000x3250 is 13 megapixels, over the limit of 12 megapixels",
    }
    for name, data in bad.items():
        path = tmp_path / name
        path.write_bytes(data)
        tab.open()
        status = tab.restore_photo(path)
        assert status.startswith(f"Not restored: {name}: ") and expected[name] in status
    tab.open()
    assert tab.restore_photo(DEMO / "photo.jpg").startswith("Restored. photo.jpg")


def test_odd_modes_and_exif_rotation_are_restored_on_the_page(tab, tmp_path):
    """Greyscale, alpha, 16-bit and CMYK come back as RGB photos; a photo stored sideways
    is turned as its EXIF tag says before it is restored."""
    odd = {name: data for name, data, *_ in MODE_CASES}
    files = {name: odd[name] for name in ("grey.png", "rgba.png", "sixteen_bit.png", "cmyk.jpg")}
    exif = Image.Exif()
    exif[0x0112] = 6  # shown rotated 90 degrees clockwise: 32 wide, 64 high
    sideways = io.BytesIO()
    Image.new("RGB", (64, 32), (200, 30, 30)).save(sideways, "JPEG", quality=95, exif=exif)
    files["rotated.jpg"] = sideways.getvalue()
    for name, data in files.items():
        path = tmp_path / name
        path.write_bytes(data)
        tab.open()
        size = "32x64 -> 128x256" if name == "rotated.jpg" else "16x16 -> 64x64"
        assert tab.restore_photo(path).startswith(f"Restored. {name}: {size};")


def test_two_users_at_once_are_queued_and_both_finish(browser, server, tmp_path):
    tabs = [Tab(browser, server.url) for _ in range(2)]
    try:
        for tab in tabs:
            tab.upload("photo-input", DEMO / "photo.jpg")
        for tab in tabs:
            tab.page.click("#photo-go")
        from playwright.sync_api import expect

        for tab in tabs:
            expect(tab.page.locator("#photo-status")).to_contain_text("Restored.", timeout=SLOW)
        assert all(tab.outside == [] for tab in tabs)
    finally:
        for tab in tabs:
            tab.close()


def test_face_crops_are_restored_and_a_large_one_is_reported(tab):
    from playwright.sync_api import expect

    tab.page.get_by_role("tab", name="Face crops").click()
    crops = sorted((DEMO / "lr_test").glob("*.png"))[:2]
    large = sorted((DEMO / "hr_val").glob("*.png"))[-1]
    tab.upload("crops-input", *crops, large)
    tab.page.click("#crops-go")
    status = tab.page.locator("#crops-status")
    expect(status).to_contain_text("Restored 2 of 3 crops.", timeout=SLOW)
    assert f"{large.name}: 64x64 px is larger than the model's 16x16 input" in status.inner_text()
