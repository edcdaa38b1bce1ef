"""The last steps before encoding, run on the model's device: side-by-side, mark, YUV 4:2:0.

A video encoder wants YUV 4:2:0. Converting translated RGB frames there, in the thread that
drives the model, takes the conversion out of the encode thread (FFmpeg's swscale was about a
third of libx264 `ultrafast`'s time per 256x256 frame; see benchmarks/codec_throughput.py),
and the host copies out half the bytes of RGB. On a GPU the work itself is nearly free.

The conversion is BT.601 with limited range (luma 16-235), the one FFmpeg applies to RGB by
default and assumes when decoding untagged video; chroma is the mean of each 2x2 block.
"""

from __future__ import annotations

import functools

import torch
import torch.nn.functional as F

from recyclegan.provenance.watermark import Watermarker

# Rows: Y, Cb, Cr from R, G, B in 0..255 (ITU-R BT.601, studio range); offsets below.
_RGB_TO_YCBCR = torch.tensor([[65.481, 128.553, 24.966],
                              [-37.797, -74.203, 112.0],
                              [112.0, -93.786, -18.214]], dtype=torch.float64) / 255
_OFFSETS = (16.0, 128.0, 128.0)


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
    matrix = _conversion_matrix(rgb.device)
    count, _, height, width = rgb.shape
    luma = torch.einsum("c,nchw->nhw", matrix[0], rgb).add_(_OFFSETS[0])
    chroma = torch.einsum("kc,nchw->nkhw", matrix[1:], F.avg_pool2d(rgb, 2))
    chroma[:, 0].add_(_OFFSETS[1])
    chroma[:, 1].add_(_OFFSETS[2])
    planes = torch.cat([luma.reshape(count, -1), chroma.reshape(count, -1)], dim=1)
    return planes.round_().clamp_(0, 255).to(torch.uint8).reshape(count, -1, width)


@functools.cache
def _conversion_matrix(device: torch.device) -> torch.Tensor:
    """_RGB_TO_YCBCR on `device`, copied there once rather than for every batch."""
    return _RGB_TO_YCBCR.to(device, torch.float32)


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
