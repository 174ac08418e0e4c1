"""Looking at the PNGs the plot commands write: their size, what is drawn in each panel,
and whether a path was drawn where the robot went (helpers for the plot tests)."""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
from matplotlib import image
from scipy import ndimage

#: matplotlib's default colours, as the plots use them
TAB = {"blue": (31, 119, 180), "orange": (255, 127, 14), "green": (44, 160, 44),
       "red": (214, 39, 40), "purple": (148, 103, 189), "gray30": (77, 77, 77)}


def read_png(path: str | Path) -> np.ndarray:
    """The image as (height, width, 3) uint8 RGB."""
    img = image.imread(str(path))
    return np.round(img[..., :3] * 255).astype(np.uint8)


def mask(img: np.ndarray, rgb: tuple[int, int, int], tol: int = 30) -> np.ndarray:
    """Pixels within ``tol`` of a colour in every channel."""
    return (np.abs(img.astype(np.int16) - np.array(rgb, dtype=np.int16)) <= tol).all(axis=-1)


def coloured(img: np.ndarray) -> np.ndarray:
    """Pixels with a hue (data), as opposed to white, black and grays (frames, text, grid)."""
    channels = img.astype(np.int16)
    return channels.max(axis=-1) - channels.min(axis=-1) > 60


def cells(img: np.ndarray, rows: int, cols: int) -> list[np.ndarray]:
    """The image cut into a rows x cols grid of equal cells, row by row."""
    h, w = img.shape[:2]
    return [img[r * h // rows:(r + 1) * h // rows, c * w // cols:(c + 1) * w // cols]
            for r in range(rows) for c in range(cols)]


def blobs(m: np.ndarray, grow: int = 0) -> list[tuple[np.ndarray, np.ndarray]]:
    """Connected parts of a mask (after growing it by ``grow`` px), largest first:
    each as (rows, cols) of its original pixels."""
    grown = ndimage.binary_dilation(m, iterations=grow) if grow else m
    labels, n = ndimage.label(grown)
    parts = [np.nonzero(m & (labels == k)) for k in range(1, n + 1)]
    return sorted((p for p in parts if len(p[0])), key=lambda p: -len(p[0]))


class MapFit:
    """Data (x, y in m) to pixels (col, row) of an equal-aspect map: col = c0 + s x,
    row = r0 - s y; fitted on markers drawn at known places."""

    def __init__(self, s: float, c0: float, r0: float, residual_px: float) -> None:
        self.s, self.c0, self.r0, self.residual_px = s, c0, r0, residual_px

    def pixels(self, xy: np.ndarray) -> np.ndarray:
        """(n, 2) rounded (row, col) of data points."""
        xy = np.asarray(xy, dtype=float).reshape(-1, 2)
        return np.round(np.c_[self.r0 - self.s * xy[:, 1], self.c0 + self.s * xy[:, 0]]).astype(int)


def fit_markers(img: np.ndarray, rgb: tuple[int, int, int], points, region=None) -> MapFit:
    """Fit a :class:`MapFit` to the markers of colour ``rgb`` drawn at ``points`` (data).

    Markers of that colour elsewhere (a legend's sample) are left out: every choice of
    as many blobs as points is tried, and the one that fits best is kept.
    ``region`` (a pair of slices) limits the search.
    """
    pts = np.asarray(points, dtype=float).reshape(-1, 2)
    m = mask(img, rgb)
    if region is not None:
        keep = np.zeros_like(m)
        keep[region] = True
        m &= keep
    centres = [(r.mean(), c.mean()) for r, c in blobs(m)[:len(pts) + 4]]
    best = None
    for chosen in itertools.permutations(centres, len(pts)):
        rows, cols = np.array([c[0] for c in chosen]), np.array([c[1] for c in chosen])
        # col = c0 + s x and -row = -r0 + s y: one scale, two offsets, least squares
        a = np.zeros((2 * len(pts), 3))
        a[:len(pts), 0], a[:len(pts), 1] = pts[:, 0], 1.0
        a[len(pts):, 0], a[len(pts):, 2] = pts[:, 1], -1.0
        b = np.r_[cols, -rows]
        sol, *_ = np.linalg.lstsq(a, b, rcond=None)
        residual = float(np.abs(a @ sol - b).max())
        if sol[0] > 0 and (best is None or residual < best.residual_px):
            best = MapFit(sol[0], sol[1], sol[2], residual)
    if best is None:
        raise AssertionError(f"no markers of colour {rgb} for {len(pts)} points")
    return best


def drawn_along(img: np.ndarray, pixels: np.ndarray, colours, reach: int = 2) -> float:
    """Fraction of ``pixels`` (row, col) with one of ``colours`` within ``reach`` px."""
    m = np.zeros(img.shape[:2], dtype=bool)
    for rgb in colours:
        m |= mask(img, rgb)
    m = ndimage.binary_dilation(m, iterations=reach)
    h, w = m.shape
    inside = (pixels[:, 0] >= 0) & (pixels[:, 0] < h) & (pixels[:, 1] >= 0) & (pixels[:, 1] < w)
    hits = np.zeros(len(pixels), dtype=bool)
    hits[inside] = m[pixels[inside, 0], pixels[inside, 1]]
    return float(hits.mean()) if len(hits) else 0.0


def frame_columns(img: np.ndarray) -> tuple[int, int]:
    """Columns of the left and right frame lines of axes stacked over most of the height."""
    dark = (img < 100).all(axis=-1)
    cols = np.flatnonzero(dark.sum(axis=0) > 0.5 * img.shape[0])
    assert len(cols) >= 2, "no axes frame spans the image"
    return int(cols.min()), int(cols.max())


def column_of(t: float, t0: float, t1: float, left: int, right: int) -> float:
    """The pixel column of ``t`` on an axis that autoscaled to data from t0 to t1
    (matplotlib adds 5% of the range on each side) between frame columns left, right."""
    lo, hi = t0 - 0.05 * (t1 - t0), t1 + 0.05 * (t1 - t0)
    return left + (t - lo) / (hi - lo) * (right - left)
