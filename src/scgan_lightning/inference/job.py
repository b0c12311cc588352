"""A whole prediction job from plain options: check, load, restore, write, report.

``predict(PredictOptions(...))`` is the Python API behind ``python -m scgan_lightning.predict``;
every face goes through one ``FaceRestorer``.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from rich.console import Console
from rich.progress import Progress
from torch.utils.data import DataLoader

from ..errors import UserError
from ..imaging import ImageReadError, read_rgb
from .detect import make_detector
from .face_mode import FaceWriter, face_loader
from .inputs import InputItem, collect_inputs, exclude_outputs, split_name_clashes
from .options import PredictOptions
from .photo_mode import upscale
from .restorer import FaceRestorer
from .writers import (
    Outputs,
    Report,
    Summary,
    faces_line,
    make_console,
    make_progress,
    prepare_output,
)


def predict(
    options: PredictOptions,
    restorer: FaceRestorer | None = None,
    console: Console | None = None,
) -> Summary:
    """The whole job. Unreadable inputs are reported and skipped; problems with the job itself
    (no input, an output that cannot be written, a bad checkpoint) raise ``UserError`` before
    any work."""
    inputs = collect_inputs(options.input, options.recursive)
    folder = prepare_output(options.output, inputs, options.suffix)
    inputs, clashes = split_name_clashes(exclude_outputs(inputs, folder))
    outputs = Outputs(folder, options.suffix, inputs)
    restorer = restorer or restorer_for(options)
    report = Report(console or make_console())
    for message in clashes:
        report.fail(message)
    if options.use_trainer:
        from .trainer import predict_with_trainer

        loader, writer = _face_io(options, inputs.items, outputs, report, restorer.lr_size)
        return predict_with_trainer(restorer, loader, writer, options)
    with make_progress(report.console, options.progress) as progress:
        if options.mode == "photo":
            run_photos(restorer, inputs.items, outputs, report, options.save_cmp, progress)
        else:
            loader, writer = _face_io(options, inputs.items, outputs, report, restorer.lr_size)
            run_faces(restorer, loader, writer, progress)
    return report.summary


def restorer_for(options: PredictOptions) -> FaceRestorer:
    """The job's restorer. Photo mode builds its detector first, so a broken OpenCV fails
    before the model loads; the Trainer path runs the network as given ("32", NCHW) and lets
    Lightning's precision apply."""
    detector = None
    if options.mode == "photo":
        detector = make_detector(options.photo.detector, options.photo.min_face)
    trainer = options.use_trainer
    return FaceRestorer.from_checkpoint(
        options.ckpt_path,
        options.device,
        "32" if trainer else options.precision,
        channels_last=False if trainer else options.channels_last,
        batch_size=options.batch_size,
        hr_size=options.hr_size,
        photo=options.photo,
        detector=detector,
    )


def run_faces(
    restorer: FaceRestorer, loader: DataLoader, writer: FaceWriter, progress: Progress
) -> None:
    """Face crops in, restored faces out, batch by batch."""
    task = progress.add_task("restoring faces", total=len(loader.dataset))
    for batch in loader:
        sr = restorer.restore_faces(batch["lr"]) if batch["index"] else None
        writer.write_batch(batch, sr)
        done = len(batch["index"]) + len(batch["errors"]) + len(batch["skips"])
        progress.advance(task, done)


def run_photos(
    restorer: FaceRestorer,
    items: Sequence[InputItem],
    outputs: Outputs,
    report: Report,
    save_cmp: bool,
    progress: Progress,
) -> None:
    """Each photo written ``scale`` times larger with its small faces restored; a photo that
    cannot be read or written is reported and the job goes on."""
    task = progress.add_task("restoring photos", total=len(items))
    summary = report.summary
    summary.max_face = restorer.photo.max_face
    for item in items:
        progress.advance(task)
        try:
            image = read_rgb(item.path)
        except ImageReadError as err:
            report.fail(str(err))
            continue
        result = restorer.process_photo(image)
        try:
            outputs.save(result.canvas, outputs.target(item.rel), fast=True)
            if save_cmp:
                both = np.hstack([upscale(image, restorer.scale), result.canvas])
                outputs.save(both, outputs.target(item.rel, "cmp"), fast=True)
            if restorer.photo.save_faces:
                for k, face in enumerate(result.faces):
                    outputs.save(face.lr, outputs.target(item.rel, "faces", f"_{k}_lr"))
                    outputs.save(face.sr, outputs.target(item.rel, "faces", f"_{k}_sr"))
        except (UserError, OSError) as err:
            report.fail(f"{item.path}: not written ({err})")
            continue
        summary.faces += result.found
        summary.restored += result.restored
        summary.too_large += result.too_large
        line = faces_line(result.restored, result.too_large, summary.max_face)
        report.note(f"{item.path}: {result.found} faces found, {line}")
        report.ok()


def _face_io(
    options: PredictOptions,
    items: Sequence[InputItem],
    outputs: Outputs,
    report: Report,
    lr_size: int,
) -> tuple[DataLoader, FaceWriter]:
    """Face mode's reader and writer, shared by the direct and the Lightning paths."""
    loader = face_loader(
        items,
        lr_size,
        options.batch_size,
        options.num_workers,
        options.faces.allow_downscale,
        options.hr_size if options.save_cmp else None,
    )
    return loader, FaceWriter(items, outputs, report)
