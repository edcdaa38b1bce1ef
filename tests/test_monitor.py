import cv2
import numpy as np
import torch

from recyclegan.training.monitor import sample_strip, to_uint8, write_png


def rows(tile, names=("real0", "real1", "real2", "fake0", "fake1", "pred2", "rec2")):
    return [{name: torch.full((1, 3, tile, tile), value) for name in names}
            for value in (-1.0, 1.0)]


def test_to_uint8_maps_the_unit_range():
    images = torch.tensor([-1.0, 0.0, 1.0, 3.0]).view(1, 1, 2, 2).expand(1, 3, 2, 2)
    assert to_uint8(images)[0, :, :, 0].flatten().tolist() == [0, 128, 255, 255]


def test_small_tiles_have_no_header():
    strip = sample_strip(rows(32))
    assert strip.shape == (64, 7 * 32, 3)
    assert (strip[:32] == 0).all() and (strip[32:] == 255).all()  # row per direction


def test_large_tiles_get_a_label_band_and_columns_follow_the_preset():
    strip = sample_strip(rows(64, names=("real0", "real1", "real2", "fake0", "fake1", "rec0")))
    band = strip.shape[0] - 2 * 64
    assert strip.shape[1] == 6 * 64 and 8 <= band <= 30
    assert (strip[band:band + 64] == 0).all()
    assert strip[:band].max() > 150  # the labels are drawn


def test_write_png_round_trip(tmp_path):
    rgb = np.zeros((8, 8, 3), np.uint8)
    rgb[..., 0] = 200
    write_png(tmp_path / "s.png", rgb)
    assert cv2.imread(str(tmp_path / "s.png"))[0, 0].tolist() == [0, 0, 200]  # BGR on disk
    assert [p.name for p in tmp_path.iterdir()] == ["s.png"]
