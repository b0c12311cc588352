"""Serving the page: offline, on this computer only unless told, files in a temporary folder.

Gradio reads its settings from the environment when it is imported, so ``serve`` sets them
first (``OFFLINE``: no analytics or version check, no Hugging Face calls, no share link, no
server-side rendering) and imports the page after. Uploads and results go to one temporary
folder that is removed when the server stops (Ctrl+C or SIGTERM); nothing is written where
the command runs.
"""

from __future__ import annotations

import gc
import os
import signal
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import UserError
from .restorers import RestorerPool

OFFLINE = {
    "GRADIO_ANALYTICS_ENABLED": "False",
    "GRADIO_SHARE": "False",
    "GRADIO_SSR_MODE": "False",
    "GRADIO_MCP_SERVER": "False",
    "HF_HUB_OFFLINE": "1",
    "HF_HUB_DISABLE_TELEMETRY": "1",
}


@dataclass
class AppSettings:
    """How the app serves and restores; field names match ``conf/app.yaml``."""

    host: str = "127.0.0.1"
    port: int | None = 7860
    ckpt_path: str | None = None
    device: str = "auto"
    precision: str = "auto"
    channels_last: bool | str = "auto"
    max_megapixels: float = 12.0
    max_upload_mb: int = 100
    queue_size: int = 16

    def __post_init__(self) -> None:
        if self.port is not None and not 1 <= int(self.port) <= 65535:
            raise UserError(
                f"port must be in 1-65535 (or null: the first free from 7860), got {self.port}"
            )
        if float(self.max_megapixels) <= 0:
            raise UserError(f"max_megapixels must be > 0, got {self.max_megapixels}")
        if int(self.max_upload_mb) < 1:
            raise UserError(f"max_upload_mb must be at least 1, got {self.max_upload_mb}")
        if int(self.queue_size) < 1:
            raise UserError(f"queue_size must be at least 1, got {self.queue_size}")

    @property
    def max_pixels(self) -> int:
        return round(float(self.max_megapixels) * 1_000_000)


def _import_page() -> Any:
    try:
        from . import page
    except ImportError as err:
        if err.name is None or not err.name.startswith("gradio"):
            raise
        raise UserError(
            "the app needs Gradio, which this installation lacks: "
            "pip install 'scgan_lightning[app]'"
        ) from None
    return page


def _bypass_proxies_for_this_computer() -> None:
    """Gradio calls its own server at start-up; a user's HTTP proxy must not carry that."""
    for key in ("NO_PROXY", "no_proxy"):
        hosts = [h for h in os.environ.get(key, "").split(",") if h]
        os.environ[key] = ",".join([*hosts, "127.0.0.1", "localhost", "::1"])


def _stop(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt


def serve(settings: AppSettings) -> None:
    """Load the restorer, serve the page until Ctrl+C or SIGTERM, then remove every file."""
    with tempfile.TemporaryDirectory(prefix="scgan-app-") as root:
        os.environ.update(OFFLINE, GRADIO_TEMP_DIR=root)
        _bypass_proxies_for_this_computer()
        page = _import_page()
        pool = RestorerPool(settings.device, settings.precision, settings.channels_last)
        print(f"loading the restorer ({settings.ckpt_path or 'bundled'})", flush=True)
        pool.get(settings.ckpt_path)
        results = Path(root, "results")
        results.mkdir()
        handlers = page.Handlers(pool, settings.max_pixels, results)
        blocks = page.build_page(
            handlers, settings.ckpt_path, float(settings.max_megapixels), int(settings.queue_size)
        )
        signal.signal(signal.SIGTERM, _stop)
        _launch(blocks, settings)
        # Torch, Gradio and the page live until exit: moved out of the collector's reach, they
        # are not walked at every collection, nor for seconds by the last ones at shutdown.
        gc.freeze()
        print(
            f"serving on {blocks.local_url} (uploads and results in {root}, removed on exit)",
            flush=True,
        )
        try:
            while blocks.is_running:
                time.sleep(0.5)
        except KeyboardInterrupt:
            pass
        finally:
            blocks.close()


# What the app never turns on: it serves one person on their own computer, offline.
OFFLINE_ONLY = {
    "share": False,  # no public link
    "inbrowser": False,
    "ssr_mode": False,  # no server-side rendering (a Node process)
    "mcp_server": False,
    "pwa": False,
    "enable_monitoring": False,
    "run_history": False,
    "footer_links": [],  # no links to gradio.app
}


def _launch(blocks: Any, settings: AppSettings) -> None:
    """Start serving in the background, offline (``OFFLINE_ONLY``)."""
    try:
        blocks.launch(
            server_name=settings.host,
            server_port=settings.port,
            prevent_thread_lock=True,
            max_file_size=f"{int(settings.max_upload_mb)}mb",
            quiet=True,
            # Gradio's own reachability probe (3 s per request) times out on a busy machine
            # while the first page is still being built, and would stop a healthy server
            # with "localhost is not accessible"; the browser tests check the page instead.
            _frontend=False,
            **OFFLINE_ONLY,
        )
    except OSError as err:
        reason = str(err).splitlines()[0]
        raise UserError(
            f"cannot serve on {settings.host}:{settings.port} ({reason}); choose another port="
        ) from None
