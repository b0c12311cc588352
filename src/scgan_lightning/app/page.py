"""The page's layout; its buttons call ``handlers.Handlers``.

Restoring is queued one request at a time across both tabs (one model on a few CPU cores: two
at once would only share them and double the memory); others wait their turn in the queue.
"""

from __future__ import annotations

from dataclasses import fields
from typing import Any

import gradio as gr

from ..inference.detect import DETECTORS
from ..inference.options import PhotoOptions
from .handlers import Handlers, decision_table
from .restorers import FILE_CHOICE, bundled_choices

INTRO = """# SCGAN face restoration
Restores the small faces of a photo (the whole photo comes back 4x larger, its faces of at
most `photo.max_face` px restored, the rest bicubic), or face crops of up to 16x16 px.
Everything runs on this computer; uploads and results live in a temporary folder that is
removed when the app stops."""


def build_page(
    handlers: Handlers, ckpt_path: str | None, max_megapixels: float, queue_size: int
) -> gr.Blocks:
    """The page; ``ckpt_path`` (a file) is preselected instead of the bundled restorer."""
    choices = [*bundled_choices(), FILE_CHOICE]
    with gr.Blocks(
        title="SCGAN face restoration", analytics_enabled=False, delete_cache=(1800, 3600)
    ) as page:
        gr.Markdown(INTRO)
        with gr.Row():
            choice = gr.Dropdown(
                choices,
                value=FILE_CHOICE if ckpt_path else choices[0],
                label="Restorer",
                elem_id="restorer",
            )
            path = gr.Textbox(
                value=ckpt_path or "",
                label="Checkpoint file on this computer: a training .ckpt, a restorer.pt or "
                "the released pretrained_model.pth",
                elem_id="ckpt-path",
            )
        with gr.Tab("Photo"):
            _photo_tab(handlers, choice, path, max_megapixels)
        with gr.Tab("Face crops"):
            _crops_tab(handlers, choice, path)
    page.queue(default_concurrency_limit=1, max_size=queue_size)
    return page


def _fraction_slider(defaults: dict[str, Any], name: str, label: str) -> gr.Slider:
    """A photo option that is a fraction of a face, 0 to 0.5 (``photo.<name>``)."""
    return gr.Slider(0, 0.5, value=defaults[name], step=0.05, label=label, elem_id=f"photo-{name}")


def _photo_options() -> list[gr.components.Component]:
    """Photo mode's options, at the command line's defaults (``PhotoOptions``)."""
    defaults = {f.name: f.default for f in fields(PhotoOptions)}
    with gr.Accordion("Photo mode options (the command line's defaults)"):
        max_face = gr.Slider(
            4,
            64,
            value=defaults["max_face"],
            step=1,
            label="Restore faces up to this side, px (photo.max_face); larger ones keep the "
            "4x bicubic, which beats restoring them through the 16 px input",
            elem_id="photo-max-face",
        )
        feather = _fraction_slider(
            defaults,
            "feather",
            "Blend band when pasting back, fraction of the face (photo.feather)",
        )
        margin = _fraction_slider(
            defaults, "margin", "Context around each face, fraction of its side (photo.margin)"
        )
        detector = gr.Radio(
            list(DETECTORS),
            value=defaults["detector"],
            label="Face detector (photo.detector)",
            elem_id="photo-detector",
        )
        min_face = gr.Slider(
            1,
            64,
            value=defaults["min_face"],
            step=1,
            label="Smallest face reported, px (photo.min_face)",
            elem_id="photo-min-face",
        )
    return [max_face, feather, margin, detector, min_face]


def _photo_tab(
    handlers: Handlers, choice: gr.Dropdown, path: gr.Textbox, max_megapixels: float
) -> None:
    with gr.Row():
        with gr.Column(scale=1):
            upload = gr.File(
                label=f"Photo (up to {max_megapixels:g} megapixels)", elem_id="photo-input"
            )
            options = _photo_options()
            go = gr.Button("Restore photo", variant="primary", elem_id="photo-go")
        with gr.Column(scale=2):
            status = gr.Markdown(elem_id="photo-status")
            slider = gr.ImageSlider(
                label="4x bicubic | restored (drag the handle)",
                type="filepath",
                interactive=False,
                max_height=640,
                elem_id="photo-slider",
            )
    faces = gr.Gallery(
        label="Restored faces: the crop the network read (bicubic) | restored",
        columns=8,
        height=440,
        object_fit="contain",
        elem_id="photo-faces",
    )
    table = gr.Dataframe(
        decision_table([]),
        label="What photo mode decided for each face",
        interactive=False,
        elem_id="photo-decisions",
    )
    downloads = gr.File(
        label="Downloads: restored photo, 4x bicubic, faces (zip)",
        file_count="multiple",
        interactive=False,
        elem_id="photo-downloads",
    )
    go.click(
        handlers.photo,
        [upload, choice, path, *options],
        [status, slider, faces, table, downloads],
        concurrency_id="restore",
    )


def _crops_tab(handlers: Handlers, choice: gr.Dropdown, path: gr.Textbox) -> None:
    with gr.Row():
        with gr.Column(scale=1):
            uploads = gr.File(
                label="Face crops (up to 16x16 px each)",
                file_count="multiple",
                elem_id="crops-input",
            )
            downscale = gr.Checkbox(
                False,
                label="Shrink crops larger than the model's input and restore them anyway "
                "(faces.allow_downscale)",
                elem_id="crops-downscale",
            )
            go = gr.Button("Restore crops", variant="primary", elem_id="crops-go")
        with gr.Column(scale=2):
            status = gr.Markdown(elem_id="crops-status")
            faces = gr.Gallery(
                label="Your crop (bicubic) | restored",
                columns=6,
                object_fit="contain",
                elem_id="crops-faces",
            )
            download = gr.File(label="Download (zip)", interactive=False, elem_id="crops-download")
    go.click(
        handlers.crops,
        [uploads, choice, path, downscale],
        [status, faces, download],
        concurrency_id="restore",
    )
