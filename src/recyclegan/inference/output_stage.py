"""The last steps before encoding, run on the model's device: side-by-side, mark, YUV 4:2:0.

A video encoder wants YUV 4:2:0. Converting translated RGB frames there, in the thread that
drives the model, takes the conversion out of the encode thread (FFmpeg's swscale was about a
third of libx264 `ultrafast`'s time per 256x256 frame; see benchmarks/codec_throughput.py),
and the host copies out half the bytes of RGB. On a GPU the work itself is nearly free.

The conversion is BT.601 with limited range (luma 16-235), the one FFmpeg applies to RGB by
default and assumes when decoding untagged video; chroma is the mean of each 2x2 block.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from recyclegan.provenance.watermark import Watermarker

# Y, Cb and Cr as weights of R, G and B in 0..255, and offsets (ITU-R BT.601, studio range).
_LUMA = ((65.481 / 255, 128.553 / 255, 24.966 / 255), 16.0)
_BLUE_DIFFERENCE = ((-37.797 / 255, -74.203 / 255, 112.0 / 255), 128.0)
_RED_DIFFERENCE = ((112.0 / 255, -93.786 / 255, -18.214 / 255), 128.0)


def _weighted(rgb: torch.Tensor, row: tuple[tuple[float, float, float], float]) -> torch.Tensor:
    (weight_r, weight_g, weight_b), offset = row
    red, green, blue = rgb.unbind(1)
    return (red * weight_r).add_(green, alpha=weight_g).add_(blue, alpha=weight_b).add_(offset)


def rgb_to_yuv420p(frames: torch.Tensor) -> torch.Tensor:
    """(N, H, W, 3) RGB levels (uint8, or float in 0..255) -> (N, 3*H'/2, W') uint8 frames
    in FFmpeg's planar yuv420p layout: Y rows, then Cb, then Cr, each plane row by row.

    H' and W' are H and W rounded up to even by repeating the last row or column, as
    VideoWriter pads odd frames.
    """
    if frames.ndim != 4 or frames.shape[-1] != 3:
        raise ValueError(f"expected (N, H, W, 3) frames, got {tuple(frames.shape)}")
    rgb = frames.permute(0, 3, 1, 2).float()
    height, width = rgb.shape[-2:]
    if height % 2 or width % 2:
        rgb = F.pad(rgb, (0, width % 2, 0, height % 2), mode="replicate")
    count, width = len(rgb), rgb.shape[-1]
    blocks = F.avg_pool2d(rgb, 2)
    planes = torch.cat([_weighted(rgb, _LUMA).reshape(count, -1),
                        _weighted(blocks, _BLUE_DIFFERENCE).reshape(count, -1),
                        _weighted(blocks, _RED_DIFFERENCE).reshape(count, -1)], dim=1)
    return planes.round_().clamp_(0, 255).to(torch.uint8).reshape(count, -1, width)


class OutputStage:
    """Turn a batch of prepared and translated frames (both (N, H, W, 3) uint8, on the
    model's device) into the yuv420p frames the writer encodes: side by side if asked,
    then watermarked exactly as Watermarker marks RGB frames on the host (the same rounded
    mark, added with saturation to R, G and B), then converted by rgb_to_yuv420p.
    """

    def __init__(self, marker: Watermarker | None, side_by_side: bool = False) -> None:
        self.marker, self.side_by_side = marker, side_by_side
        self._steps: dict[tuple[int, int, torch.device], torch.Tensor] = {}

    def __call__(self, prepared: torch.Tensor, translated: torch.Tensor) -> torch.Tensor:
        frames = torch.cat([prepared, translated], dim=2) if self.side_by_side else translated
        if self.marker is not None:
            frames = (frames.to(torch.int16) + self._mark(frames)).clamp_(0, 255)
        return rgb_to_yuv420p(frames)

    def _mark(self, frames: torch.Tensor) -> torch.Tensor:
        """The rounded mark as an (H, W, 1) int16 tensor on the frames' device, made once
        per frame size."""
        height, width = frames.shape[1:3]
        key = (height, width, frames.device)
        if key not in self._steps:
            steps = torch.from_numpy(self.marker.steps(height, width))
            self._steps[key] = steps.to(frames.device)[:, :, None]
        return self._steps[key]
