"""Finishing frames on the model's device: the YUV 4:2:0 conversion, the mark, and the writer
and retarget paths that use them."""

import av
import cv2
import numpy as np
import pytest
import torch

from recyclegan.data.video_io import StreamInfo, VideoReader, VideoWriter
from recyclegan.errors import RecycleganError
from recyclegan.inference.output_stage import OutputStage, rgb_to_yuv420p
from recyclegan.provenance.watermark import Watermarker


def smooth_image(rng, height, width):
    """Colour varying over tens of pixels, as in real footage (noise has no one 4:2:0 answer)."""
    coarse = rng.integers(0, 256, (max(2, height // 8), max(2, width // 8), 3), dtype=np.uint8)
    return cv2.resize(coarse, (width, height), interpolation=cv2.INTER_CUBIC)


def swscale_yuv420p(image):
    return av.VideoFrame.from_ndarray(image, format="rgb24").reformat(format="yuv420p").to_ndarray()


def test_conversion_agrees_with_ffmpeg_on_smooth_frames():
    rng = np.random.default_rng(0)
    images = np.stack([smooth_image(rng, 48, 80) for _ in range(3)])
    ours = rgb_to_yuv420p(torch.from_numpy(images)).numpy().astype(int)
    assert ours.shape == (3, 72, 80) and ours.dtype == np.int64
    for image, planes in zip(images, ours, strict=True):
        theirs = swscale_yuv420p(image).astype(int)
        assert np.abs(planes[:48] - theirs[:48]).max() <= 1  # luma: rounding only
        chroma = np.abs(planes[48:] - theirs[48:])  # chroma: filters differ slightly
        assert chroma.max() <= 4 and chroma.mean() < 1


def test_flat_colours_decode_back_to_themselves():
    colours = [(0, 0, 0), (255, 255, 255), (200, 30, 90), (16, 128, 240), (90, 90, 90)]
    images = np.stack([np.full((16, 16, 3), colour, np.uint8) for colour in colours])
    planes = rgb_to_yuv420p(torch.from_numpy(images)).numpy()
    for image, frame in zip(images, planes, strict=True):
        back = av.VideoFrame.from_ndarray(frame, format="yuv420p").to_ndarray(format="rgb24")
        assert np.abs(back.astype(int) - image).max() <= 2
    assert planes[0, :16].max() == 16 and planes[1, :16].min() == 235  # studio range


def test_odd_sides_repeat_the_last_row_and_column():
    rng = np.random.default_rng(1)
    image = smooth_image(rng, 31, 45)
    padded = np.pad(image, ((0, 1), (0, 1), (0, 0)), mode="edge")
    odd = rgb_to_yuv420p(torch.from_numpy(image)[None])
    even = rgb_to_yuv420p(torch.from_numpy(padded)[None])
    assert odd.shape == (1, 48, 46) and torch.equal(odd, even)


def test_float_levels_give_the_same_frames():
    images = torch.from_numpy(np.random.default_rng(2).integers(0, 256, (2, 8, 12, 3),
                                                                dtype=np.uint8))
    assert torch.equal(rgb_to_yuv420p(images), rgb_to_yuv420p(images.double()))
    with pytest.raises(ValueError, match=r"\(N, H, W, 3\)"):
        rgb_to_yuv420p(images[0])


@pytest.mark.parametrize("side_by_side", [False, True])
def test_stage_marks_exactly_as_the_host_does(side_by_side):
    rng = np.random.default_rng(3)
    prepared = rng.integers(0, 256, (3, 64, 64, 3), dtype=np.uint8)
    translated = rng.integers(0, 256, (3, 64, 64, 3), dtype=np.uint8)
    translated[0] = 255  # saturation at both ends
    translated[1] = 0
    marker = Watermarker("ab12cd34")
    stage = OutputStage(marker, side_by_side)
    out = stage(torch.from_numpy(prepared), torch.from_numpy(translated))
    for i in range(3):
        frame = (np.concatenate([prepared[i], translated[i]], axis=1) if side_by_side
                 else translated[i])
        host = rgb_to_yuv420p(torch.from_numpy(marker(frame))[None])[0]
        assert torch.equal(out[i], host)
    unmarked = OutputStage(None)(torch.from_numpy(prepared), torch.from_numpy(translated))
    assert torch.equal(unmarked, rgb_to_yuv420p(torch.from_numpy(translated)))
    assert not torch.equal(unmarked, OutputStage(marker)(torch.from_numpy(prepared),
                                                         torch.from_numpy(translated)))


def test_writer_takes_yuv_frames_and_refuses_wrong_ones(tmp_path):
    rng = np.random.default_rng(4)
    images = [smooth_image(rng, 30, 42) for _ in range(6)]  # odd-free but not square
    info = StreamInfo.constant_rate(42, 30, 25)
    with VideoWriter(tmp_path / "rgb.mp4", info, crf=0) as writer:
        for image in images:
            writer.write(image)
    with VideoWriter(tmp_path / "yuv.mp4", info, crf=0) as writer:
        for image in images:
            writer.write_yuv420p(rgb_to_yuv420p(torch.from_numpy(image)[None])[0].numpy())
        with pytest.raises(RecycleganError, match=r"yuv420p frames must be uint8 \(45, 42\)"):
            writer.write_yuv420p(np.zeros((30, 42), np.uint8))
    with VideoReader(tmp_path / "rgb.mp4") as a, VideoReader(tmp_path / "yuv.mp4") as b:
        pairs = list(zip(a, b, strict=True))
    assert len(pairs) == 6
    for first, second in pairs:
        assert first.pts == second.pts
        assert np.abs(first.image.astype(int) - second.image).mean() < 1.0
