"""A whole prediction job from plain options: check, load, choose run settings, restore, report.

``predict(PredictOptions(...))`` is the Python API behind ``scgan_lightning.predict``.
"""

from __future__ import annotations

from collections.abc import Sequence

from rich.console import Console
from torch.utils.data import DataLoader

from ..checkpoints import LoadedRestorer
from ..config_utils import check_scale, resolve_device
from .detect import make_detector
from .engine import RestoreEngine
from .face_mode import FaceWriter, face_loader, run_faces
from .inputs import InputItem, collect_inputs, exclude_outputs, split_name_clashes
from .models import load_model
from .options import PredictOptions
from .photo_mode import PhotoRestorer, run_photos
from .tuning import choose_settings
from .writers import Outputs, Report, Summary, make_console, make_progress, prepare_output


def predict(
    options: PredictOptions,
    loaded: LoadedRestorer | None = None,
    console: Console | None = None,
) -> Summary:
    """The whole job. Unreadable inputs are reported and skipped; problems with the job itself
    (no input, an output that cannot be written, a bad checkpoint) raise ``UserError`` before
    any work."""
    inputs = collect_inputs(options.input, options.recursive)
    folder = prepare_output(options.output, inputs, options.suffix)
    inputs, clashes = split_name_clashes(exclude_outputs(inputs, folder))
    outputs = Outputs(folder, options.suffix, inputs)
    detector = (
        make_detector(options.photo.detector, options.photo.min_face)
        if options.mode == "photo"
        else None
    )  # OpenCV missing: fail before the model loads
    loaded = loaded or load_model(options.ckpt_path)
    lr_size = check_scale(options.hr_size, loaded.scale)
    report = Report(console or make_console())
    for message in clashes:
        report.fail(message)
    device = resolve_device(options.device)
    if options.use_trainer:
        from ..predict_lightning import predict_with_trainer

        precision = "32" if options.precision == "auto" else options.precision
        loader, writer = _face_io(options, inputs.items, outputs, report, lr_size)
        return predict_with_trainer(loaded.model, loader, writer, options, precision)

    settings = choose_settings(
        loaded.model.to(device).eval(),
        device,
        options.precision,
        options.channels_last,
        lr_size,
        options.batch_size,
    )
    engine = RestoreEngine(loaded.model, device, settings, options.batch_size, loaded.scale)
    with make_progress(report.console, options.progress) as progress:
        if detector is not None:
            restorer = PhotoRestorer(engine, detector, options.photo, lr_size)
            run_photos(restorer, inputs.items, outputs, report, options.save_cmp, progress)
        else:
            loader, writer = _face_io(options, inputs.items, outputs, report, lr_size)
            run_faces(engine, loader, writer, progress)
    return report.summary


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
