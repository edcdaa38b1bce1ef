"""Segmentation scores for label-map outputs (the paper's image -> labels benchmark).

A generator that translates images to label maps paints each class in a palette colour, but
never exactly: `decode_palette` snaps every pixel to the nearest palette entry. Scores come
from a confusion matrix H (rows = truth, columns = prediction) summed over all frames, so
each pixel of the video weighs the same, as in the paper's FCN-style evaluation.

All scores are in percent (0-100), like the paper's table (Recycle-GAN on Viper: pixel
accuracy 56.0, class accuracy 11.3, mean IoU 8.2).
"""

from __future__ import annotations

import numpy as np

# Pixels per chunk in `decode_palette`: a (chunk, K) int32 distance block stays under
# about 8 MB for K = 30, whatever the frame size.
_DECODE_CHUNK = 1 << 16


def decode_palette(image: np.ndarray, palette: np.ndarray) -> np.ndarray:
    """Map each pixel of an HxWx3 uint8 image to the index of its nearest palette colour.

    Nearest is Euclidean distance in RGB; on an exact tie the lower index wins. Returns an
    HxW int64 array of class ids in [0, K).
    """
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise ValueError(f"image must be HxWx3 uint8, got shape {image.shape} {image.dtype}")
    palette = np.asarray(palette)
    if palette.ndim != 2 or palette.shape[1] != 3 or len(palette) == 0:
        raise ValueError(f"palette must be a (K, 3) array of colours, got shape {palette.shape}")
    if len(np.unique(palette, axis=0)) != len(palette):
        raise ValueError("palette has repeated colours: a repeated class could never be predicted")
    colours = palette.astype(np.int32)
    # |x - p|^2 = |x|^2 - 2 x.p + |p|^2; |x|^2 is the same for every p, so drop it.
    colour_norms = (colours**2).sum(axis=1)
    pixels = image.reshape(-1, 3).astype(np.int32)
    ids = np.empty(len(pixels), dtype=np.int64)
    for start in range(0, len(pixels), _DECODE_CHUNK):
        chunk = pixels[start : start + _DECODE_CHUNK]
        distances = colour_norms - 2 * (chunk @ colours.T)
        ids[start : start + len(chunk)] = distances.argmin(axis=1)
    return ids.reshape(image.shape[:2])


def confusion_matrix(
    truth: np.ndarray, pred: np.ndarray, num_classes: int, ignore_index: int | None = None
) -> np.ndarray:
    """Count (truth, prediction) pairs: a (K, K) int64 matrix, rows = truth, cols = prediction.

    Pixels whose truth equals `ignore_index` are left out. Every other id must lie in
    [0, num_classes). Matrices of several frames add up to the matrix of the whole video.
    """
    if truth.shape != pred.shape:
        raise ValueError(f"truth and pred shapes differ: {truth.shape} vs {pred.shape}")
    if num_classes < 1:
        raise ValueError(f"num_classes must be at least 1, got {num_classes}")
    truth = truth.reshape(-1).astype(np.int64)
    pred = pred.reshape(-1).astype(np.int64)
    if ignore_index is not None:
        keep = truth != ignore_index
        truth, pred = truth[keep], pred[keep]
    for name, ids in (("truth", truth), ("pred", pred)):
        if ids.size and (ids.min() < 0 or ids.max() >= num_classes):
            raise ValueError(
                f"{name} has ids outside [0, {num_classes}): min {ids.min()}, max {ids.max()}"
            )
    counts = np.bincount(truth * num_classes + pred, minlength=num_classes * num_classes)
    return counts.reshape(num_classes, num_classes).astype(np.int64)


def scores(confusion: np.ndarray) -> dict[str, float | list[float]]:
    """Pixel accuracy, class accuracy and IoU from a confusion matrix, all in percent.

    With row_c = pixels of class c in the truth and col_c = pixels predicted as c:

    - "pixel_accuracy": trace / total, over all counted pixels.
    - "class_accuracy": mean of H_cc / row_c over the classes present in the truth
      (row_c > 0); a class the truth never shows has no accuracy and does not count.
    - "iou": per class, H_cc / (row_c + col_c - H_cc); NaN for a class absent from both
      truth and prediction.
    - "mean_iou": mean of the defined IoUs, i.e. over classes present in the truth or the
      prediction. A class only predicted (a false positive) has IoU 0 and lowers the mean.
    """
    confusion = np.asarray(confusion)
    if confusion.ndim != 2 or confusion.shape[0] != confusion.shape[1]:
        raise ValueError(f"confusion must be a square matrix, got shape {confusion.shape}")
    total = confusion.sum()
    if total == 0:
        raise ValueError("confusion matrix is empty: no pixel was counted")
    hits = np.diag(confusion).astype(np.float64)
    rows = confusion.sum(axis=1).astype(np.float64)
    cols = confusion.sum(axis=0).astype(np.float64)
    in_truth = rows > 0
    union = rows + cols - hits
    iou = np.full(len(hits), np.nan)
    np.divide(hits, union, out=iou, where=union > 0)
    return {
        "pixel_accuracy": 100.0 * float(hits.sum() / total),
        "class_accuracy": 100.0 * float((hits[in_truth] / rows[in_truth]).mean()),
        "mean_iou": 100.0 * float(np.nanmean(iou)),
        "iou": [100.0 * float(value) for value in iou],
    }


class VideoSegmentation:
    """Accumulate the confusion matrix of a label video frame by frame, then score it.

    `update` takes the ground-truth ids of a frame and the generator's colour output for it;
    the output is decoded with the palette, whose index is the class id.
    """

    def __init__(self, palette: np.ndarray, ignore_index: int | None = None) -> None:
        self.palette = np.asarray(palette)
        self.ignore_index = ignore_index
        self.confusion = np.zeros((len(self.palette), len(self.palette)), dtype=np.int64)
        self.frames = 0

    def update(self, truth: np.ndarray, output: np.ndarray) -> None:
        """Add one frame: truth as HxW class ids, output as an HxWx3 uint8 colour image."""
        if truth.shape != output.shape[:2]:
            raise ValueError(f"truth is {truth.shape} but output is {output.shape[:2]}")
        pred = decode_palette(output, self.palette)
        self.confusion += confusion_matrix(truth, pred, len(self.palette), self.ignore_index)
        self.frames += 1

    def result(self) -> dict[str, int | float | list[float]]:
        """`scores` of the accumulated matrix (percent), plus the number of frames."""
        if self.frames == 0:
            raise ValueError("no frame was added")
        return {**scores(self.confusion), "frames": self.frames}
