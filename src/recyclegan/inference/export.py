"""Export one trained generator to ONNX, for runtimes without PyTorch.

Uses the torch.export-based exporter (`dynamo=True`, the default since PyTorch 2.9): the legacy
TorchScript exporter is deprecated. The batch, height and width stay dynamic.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from pathlib import Path

import torch
from torch.export import Dim

from recyclegan import __version__
from recyclegan.errors import RecycleganError
from recyclegan.fileio import atomic_write, temporary_beside
from recyclegan.inference.load import LoadedGenerator, load_generator

INPUT_NAME = "frames"
OUTPUT_NAME = "translated"
MIN_OPSET = 18  # the oldest opset the torch.export-based exporter writes
INSTALL_HINT = "pip install 'recyclegan[onnx]'"


@dataclass(frozen=True)
class ExportReport:
    path: Path
    opset: int
    max_abs_diff: float | None
    """Largest |PyTorch - onnxruntime| on a check batch; None when onnxruntime is missing."""
    input_name: str
    output_name: str


def export_onnx(run_dir: Path, direction: str, output: Path, opset: int | None = None,
                overwrite: bool = False) -> ExportReport:
    """Write the `direction` generator of a run to `output` as an ONNX model.

    The model maps `frames`, float32 (N, 3, H, W) RGB in [-1, 1] with H and W multiples of 4,
    to `translated` of the same shape and range; N, H and W are dynamic. How to feed it is
    also recorded in the model's metadata_props.
    """
    output = Path(output)
    if output.is_dir():
        raise RecycleganError(f"{output} is a folder; name the .onnx file to write")
    if output.exists() and not overwrite:
        raise RecycleganError(f"{output} exists; pass --overwrite to replace it")
    _check_writable(output)
    missing = [name for name in ("onnx", "onnxscript") if importlib.util.find_spec(name) is None]
    if missing:
        raise RecycleganError(f"ONNX export needs {' and '.join(missing)}: {INSTALL_HINT}")
    import onnx

    newest = onnx.defs.onnx_opset_version()
    if opset is not None and not MIN_OPSET <= opset <= newest:
        raise RecycleganError(f"opset must be between {MIN_OPSET} and {newest}, got {opset}")

    loaded = load_generator(run_dir, direction)
    frames = torch.rand(2, 3, loaded.image_size, loaded.image_size,
                        generator=torch.Generator().manual_seed(0)) * 2 - 1
    multiple = 2 ** loaded.generator.downsamplings
    dynamic = {0: Dim("batch"), 2: multiple * Dim(f"height_div_{multiple}"),
               3: multiple * Dim(f"width_div_{multiple}")}
    program = torch.onnx.export(loaded.generator, (frames,), input_names=[INPUT_NAME],
                                output_names=[OUTPUT_NAME], dynamic_shapes=(dynamic,),
                                opset_version=opset, dynamo=True, verbose=False)
    program.model.metadata_props.update(_metadata(loaded, multiple))

    max_abs_diff: float | None = None

    def write(tmp: Path) -> None:
        # Checked before the rename, so that a model onnxruntime rejects never appears.
        nonlocal max_abs_diff
        program.save(tmp)
        max_abs_diff = _max_abs_diff(loaded, tmp, frames)

    try:
        output.parent.mkdir(parents=True, exist_ok=True)
        atomic_write(output, write)
    except OSError as error:
        raise _write_failed(output, error) from None
    return ExportReport(path=output, opset=program.model.opset_imports[""],
                        max_abs_diff=max_abs_diff, input_name=INPUT_NAME,
                        output_name=OUTPUT_NAME)


def _check_writable(output: Path) -> None:
    """Refuse a folder that takes no new file (read-only) now, before the export's work."""
    if not output.parent.is_dir():
        return
    try:
        temporary_beside(output).unlink()
    except OSError as error:
        raise _write_failed(output, error) from None


def _write_failed(output: Path, error: OSError) -> OSError:
    """The error, naming the model's file rather than a temporary (or none at all, as
    ONNX's writer reports a full disk); the CLI prints it with what to do."""
    if error.errno is None:
        return error
    return OSError(error.errno, error.strerror, str(output))


def _metadata(loaded: LoadedGenerator, multiple: int) -> dict[str, str]:
    """What a user of the .onnx file needs to know to feed it and to trace it to its run."""
    model = loaded.config.model
    return {
        "tool": "recyclegan",
        "version": __version__,
        "step": str(loaded.step),
        "direction": loaded.direction,
        "preset": loaded.config.preset,
        "generator": f"ResNet, {model.gen_channels} channels, {model.gen_blocks} blocks",
        "image_size": str(loaded.image_size),
        "size_multiple": str(multiple),
        "value_range": "[-1, 1]",
        "input": f"{INPUT_NAME}: float32 (batch, 3, height, width), RGB in [-1, 1], "
                 f"height and width multiples of {multiple}; from uint8: pixel / 127.5 - 1",
        "output": f"{OUTPUT_NAME}: float32 (batch, 3, height, width), RGB in [-1, 1]; "
                  "to uint8: round((value + 1) * 127.5) clipped to 0..255",
    }


def _max_abs_diff(loaded: LoadedGenerator, model_path: Path, frames: torch.Tensor) -> float | None:
    """Largest difference between PyTorch and onnxruntime on `frames`; None without onnxruntime."""
    try:
        import onnxruntime
    except ImportError:
        return None
    session = onnxruntime.InferenceSession(str(model_path), providers=["CPUExecutionProvider"])
    (translated,) = session.run([OUTPUT_NAME], {INPUT_NAME: frames.numpy()})
    with torch.no_grad():
        expected = loaded.generator(frames)
    return (torch.from_numpy(translated) - expected).abs().max().item()
