"""Procedural street scenes with CamVid's 11 classes (plus void), deterministic by seed, any resolution.

No dataset can be downloaded here (DESIGN.md §8), so training and every accuracy figure of this project
run on these scenes. Each scene is rendered with a pinhole camera over a small 3-D world, so that the
same seed gives the same scene at every resolution:

* a straight road in perspective towards a vanishing point, lane markings, sometimes a zebra crossing;
* sidewalks with a curb on both sides; building facades (windows, shop fronts) as planes parallel to
  the road, sometimes a building closing the street, or a park (grass, trees, a fence) on one side;
* sky (clear or overcast, clouds);
* cars (boxes with cabin, windows, lights, wheels; driving, oncoming and parked), pedestrians,
  bicyclists (side and rear views), poles (street lights, traffic lights), signs, trees, fences and
  unlabelled clutter (void), drawn far to near so that near objects occlude far ones;
* random lighting (brightness, contrast, gamma, a gradient, colour cast), cast shadows, texture and
  sensor noise, mild blur, and a thin void band around some object boundaries as in CamVid.

Coordinates: the world is in metres (X right, Y up, Z forward, the camera at height ``cam_h`` above
the road); image coordinates are in units of the image *width* (``u`` right, ``v`` down), so a scene
does not depend on the pixel count. Label ids follow the 11-class CamVid layout of SegNet
(``CLASSES``), ``VOID`` = 11 is ignored in loss and metrics.

Rendering is vectorized numpy: each background layer is one array expression over the image, each
object part one over its own pixel box, and objects only a few pixels tall are drawn with fewer parts.
Measured on the 2-core build machine (shared with other jobs): 13–15 ms of CPU per 96×128 image, so
500 images take about 7 s of one core; 480×360 about 0.1 s per image. :func:`load_split` keeps the
last few splits in memory, so a process renders each split once.
"""

from __future__ import annotations

import functools
import math
import random

import numpy as np

from itnet_neuro.errors import ValidationError

#: CamVid's 11 classes in the SegNet label order; label id = index.
CLASSES = ("sky", "building", "pole", "road", "sidewalk", "tree", "sign", "fence", "car", "pedestrian",
           "bicyclist")
NUM_CLASSES = 11
#: Label id of void (unlabelled) pixels: ignored in the loss and in mIoU, as in CamVid (SegNet layout).
VOID = 11

#: Palette for plots, ids 0..11 (void last): the colours of the CamVid/SegNet label maps.
CLASS_COLORS = np.array([
    [128, 128, 128],  # sky
    [128, 0, 0],      # building
    [192, 192, 128],  # pole
    [128, 64, 128],   # road
    [60, 40, 222],    # sidewalk
    [128, 128, 0],    # tree
    [192, 128, 128],  # sign
    [64, 64, 128],    # fence
    [64, 0, 128],     # car
    [64, 64, 0],      # pedestrian
    [0, 128, 192],    # bicyclist
    [0, 0, 0],        # void
], dtype=np.uint8)

#: Default number of images per split of :func:`load_split`.
SPLIT_SIZES = {"train": 400, "val": 100, "test": 100}
_SPLIT_STREAM = {"train": 0, "val": 1, "test": 2}

SKY, BUILDING, POLE, ROAD, SIDEWALK, TREE, SIGN, FENCE, CAR, PEDESTRIAN, BICYCLIST = range(11)

# Per-class amplitude of multiplicative texture noise (vegetation is rough, sky smooth).
_TEXTURE = np.array([0.015, 0.05, 0.03, 0.05, 0.05, 0.2, 0.02, 0.06, 0.03, 0.05, 0.05, 0.06],
                    np.float32)

_BUILDING_COLOURS = np.array([
    [0.72, 0.66, 0.55], [0.62, 0.36, 0.28], [0.55, 0.55, 0.55], [0.82, 0.8, 0.75], [0.45, 0.38, 0.32],
    [0.75, 0.7, 0.6], [0.68, 0.6, 0.5], [0.4, 0.42, 0.45], [0.8, 0.72, 0.6], [0.58, 0.5, 0.45],
    [0.7, 0.55, 0.45], [0.6, 0.63, 0.58],
], np.float32)
_CAR_COLOURS = np.array([
    [0.85, 0.85, 0.85], [0.6, 0.62, 0.64], [0.4, 0.4, 0.42], [0.1, 0.1, 0.12], [0.12, 0.18, 0.4],
    [0.6, 0.1, 0.1], [0.2, 0.3, 0.22], [0.5, 0.45, 0.35], [0.75, 0.7, 0.5], [0.25, 0.35, 0.55],
    [0.9, 0.9, 0.88], [0.3, 0.3, 0.3],
], np.float32)
_CLOTHES = np.array([
    [0.1, 0.1, 0.12], [0.2, 0.2, 0.25], [0.15, 0.2, 0.35], [0.45, 0.1, 0.1], [0.5, 0.45, 0.35],
    [0.7, 0.7, 0.7], [0.3, 0.25, 0.2], [0.6, 0.5, 0.2], [0.2, 0.35, 0.25], [0.8, 0.75, 0.7],
    [0.35, 0.15, 0.35], [0.15, 0.15, 0.15],
], np.float32)
_SKIN = np.array([[0.85, 0.68, 0.55], [0.7, 0.52, 0.4], [0.45, 0.32, 0.24], [0.92, 0.78, 0.68]],
                 np.float32)
_GLASS = np.array([0.12, 0.15, 0.2], np.float32)


def _check(n: int, height: int, width: int, seed: int) -> None:
    for name, value, low in (("n", n, 0), ("height", height, 8), ("width", width, 8), ("seed", seed, 0)):
        if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < low:
            raise ValidationError(f"synthetic data: {name} must be an integer >= {low}, got {value!r}")


def generate(n: int, height: int = 96, width: int = 128, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Render ``n`` street scenes.

    Parameters
    ----------
    n : int
        Number of images.
    height, width : int
        Image size in pixels (any size >= 8; the scenes do not depend on it).
    seed : int
        Non-negative seed. Image ``i`` depends only on ``(seed, i)``, so ``generate(5)`` is the first
        five images of ``generate(10)``.

    Returns
    -------
    images : np.ndarray
        uint8, ``n × height × width × 3`` (RGB).
    labels : np.ndarray
        uint8, ``n × height × width``, values ``0..10`` (:data:`CLASSES`) or :data:`VOID`.
    """
    _check(n, height, width, seed)
    from itnet_neuro.utils import progress

    images = np.empty((n, height, width, 3), np.uint8)
    labels = np.empty((n, height, width), np.uint8)
    for i in progress(range(n), desc="synthetic scenes", unit="img"):
        images[i], labels[i] = render_scene(height, width, seed=seed, index=i)
    return images, labels


def split_seed(split: str, seed: int = 0) -> int:
    """The generator seed of ``split`` ('train', 'val', 'test'): disjoint streams derived from ``seed``."""
    if split not in _SPLIT_STREAM:
        raise ValidationError(f"unknown split {split!r}: expected one of {sorted(_SPLIT_STREAM)}")
    _check(0, 8, 8, seed)
    # SeedSequence mixes (seed, stream) into a 63-bit value: no two (seed, split) pairs share images.
    state = np.random.SeedSequence([int(seed), 0x17E7, _SPLIT_STREAM[split]]).generate_state(2, np.uint32)
    return int(state[0]) << 31 | int(state[1]) >> 1


def load_split(split: str, n: int | None = None, height: int = 96, width: int = 128,
               seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """One split of the synthetic dataset, preprocessed like CamVid in the paper (§2.4: ``/255``).

    Parameters
    ----------
    split : {'train', 'val', 'test'}
        The three splits use disjoint seeds derived from ``seed`` (:func:`split_seed`).
    n : int, optional
        Number of images; default :data:`SPLIT_SIZES` (400 / 100 / 100).

    Returns
    -------
    images : np.ndarray
        float32 in [0, 1], ``n × height × width × 3``.
    labels : np.ndarray
        uint8, ``n × height × width``, values ``0..10`` or :data:`VOID`.
    """
    s = split_seed(split, seed)
    if n is None:
        n = SPLIT_SIZES[split]
    images, labels = _cached_split(s, int(n), int(height), int(width))
    return images.astype(np.float32) / np.float32(255.0), labels.copy()


@functools.lru_cache(maxsize=8)
def _cached_split(seed: int, n: int, height: int, width: int) -> tuple[np.ndarray, np.ndarray]:
    # Training, validation, calibration and tests ask for the same splits again and again within one
    # process; rendering them costs seconds, the uint8 copy a few MB.
    images, labels = generate(n, height, width, seed=seed)
    images.flags.writeable = False
    labels.flags.writeable = False
    return images, labels


# ---------------------------------------------------------------------------------------------------
# rendering


class _Rng(random.Random):
    """Python's fast scalar draws under the numpy names used here; arrays come from a numpy Generator.

    Scenes draw thousands of scalars; ``random.Random`` does that ~20× faster than a numpy Generator.
    """

    def __init__(self, seed: int):
        super().__init__(seed)
        self._np = None

    def _g(self) -> np.random.Generator:
        if self._np is None:
            self._np = np.random.default_rng(self.getrandbits(64))
        return self._np

    def child(self) -> "_Rng":
        """An independent stream for one object, so that skipping or adding one leaves the others."""
        return _Rng(self.getrandbits(64))

    def random(self, size=None):
        return super().random() if size is None else self._g().random(size)

    def uniform(self, a=0.0, b=1.0, size=None):
        return a + (b - a) * super().random() if size is None else self._g().uniform(a, b, size)

    def normal(self, mu=0.0, sigma=1.0, size=None):
        return self.gauss(mu, sigma) if size is None else self._g().normal(mu, sigma, size)

    def integers(self, a, b=None, size=None):
        if b is None:
            a, b = 0, a
        return self.randrange(a, b) if size is None else self._g().integers(a, b, size)

    def poisson(self, lam: float) -> int:
        limit, k, p = math.exp(-lam), 0, super().random()
        while p > limit:
            k += 1
            p *= super().random()
        return k

    def choice(self, seq, p=None):
        return self.choices(seq, weights=p)[0]

    def standard_normal(self, shape):
        return self._g().standard_normal(shape)


def _interp_matrix(n: int, cells: int) -> np.ndarray:
    """``n × (cells + 2)`` linear interpolation weights from a coarse grid to n pixel centres."""
    pos = (np.arange(n, dtype=np.float32) + 0.5) * (cells / n) + 0.5
    i0 = pos.astype(np.int64)
    w = pos - i0
    m = np.zeros((n, cells + 2), np.float32)
    m[np.arange(n), i0] = 1 - w
    m[np.arange(n), i0 + 1] = w
    return m


def _smooth_noise(rng, H: int, W: int, cells_y: int, cells_x: int) -> np.ndarray:
    """Bilinearly interpolated Gaussian noise on a ``cells_y × cells_x`` grid (resolution independent)."""
    g = rng.standard_normal((cells_y + 2, cells_x + 2)).astype(np.float32)
    return _interp_matrix(H, cells_y) @ g @ _interp_matrix(W, cells_x).T


class _Canvas:
    """Camera, image and label buffers, and the primitives objects are drawn with.

    Pixel coordinates: column ``c`` has its centre at ``u = (c + 0.5) / W``; ``px_u``/``px_v`` hold the
    pixel offsets of column/row centres from the vanishing point/horizon. ``k = f·W/Z`` is the number
    of pixels per metre at depth Z. A primitive covers the pixels whose centres it contains, and at
    least one pixel across, so that thin poles stay visible at low resolution.
    """

    def __init__(self, H: int, W: int, rng: _Rng):
        self.H, self.W = H, W
        self.f = float(rng.uniform(0.7, 0.95))                    # focal length, image widths
        self.u_v = float(rng.uniform(0.38, 0.62))                 # vanishing point, image widths
        self.v_h = (H / W) * float(rng.uniform(0.38, 0.52))       # horizon row, image widths
        self.cam_h = float(rng.uniform(1.2, 1.7))                 # camera height, m
        self.fW = self.f * W
        self.px_u = np.arange(W, dtype=np.float32) + np.float32(0.5 - self.u_v * W)
        self.px_v = np.arange(H, dtype=np.float32) + np.float32(0.5 - self.v_h * W)
        self.dx = self.px_u / np.float32(W)          # image-width units, for the full-frame layers
        self.dy = self.px_v / np.float32(W)
        self.img = np.zeros((3, H, W), np.float32)   # planar RGB: masked writes per channel are fast
        self.lbl = np.zeros((H, W), np.uint8)

    # -- pixel boxes -----------------------------------------------------------------------------
    @staticmethod
    def _span(lo: float, hi: float, n: int):
        """Indices whose pixel centres lie in [lo, hi] (pixel units), at least the one holding the middle."""
        a = math.ceil(lo - 0.5)
        b = math.floor(hi - 0.5) + 1
        if b <= a:
            a = math.floor((lo + hi) / 2)
            b = a + 1
        return max(a, 0), min(b, n)

    def _box(self, X, Z, a0, a1, b0, b1):
        """Pixel box of the camera-facing rectangle [X+a0, X+a1] × [b0, b1] (metres) at depth Z."""
        if Z < 0.3:
            return None
        k = self.fW / Z
        uc = self.u_v * self.W + k * X
        vg = self.v_h * self.W + k * self.cam_h                 # row of the ground at depth Z
        c0, c1 = self._span(uc + k * a0, uc + k * a1, self.W)
        r0, r1 = self._span(vg - k * b1, vg - k * b0, self.H)
        if c0 >= c1 or r0 >= r1:
            return None
        return r0, r1, c0, c1

    def local(self, X, Z, a0, a1, b0, b1):
        """``(box, A, B)``: local metre coordinates (A right of X: 1×w, B above ground: h×1) over a box."""
        box = self._box(X, Z, a0, a1, b0, b1)
        if box is None:
            return None
        r0, r1, c0, c1 = box
        inv = Z / self.fW
        return box, (self.px_u[c0:c1] * inv - X)[None, :], (self.cam_h - self.px_v[r0:r1] * inv)[:, None]

    def _quad_box(self, us, vs):
        c0 = max(int(math.floor(min(us) - 0.5)), 0)
        c1 = min(int(math.ceil(max(us) - 0.5)) + 1, self.W)
        r0 = max(int(math.floor(min(vs) - 0.5)), 0)
        r1 = min(int(math.ceil(max(vs) - 0.5)) + 1, self.H)
        if c0 >= c1 or r0 >= r1:
            return None
        return r0, r1, c0, c1

    def side_quad(self, Xs, z0, z1, y0, y1):
        """``(box, Z 1×w, Y h×w)`` on the plane X = Xs around the quad z0..z1 × y0..y1; None if unseen."""
        z0 = max(z0, 0.3)
        if z1 <= z0:
            return None
        us = [self.u_v * self.W + self.fW * Xs / z for z in (z0, z1)]
        vs = [self.v_h * self.W + self.fW * (self.cam_h - y) / z for y in (y0, y1) for z in (z0, z1)]
        box = self._quad_box(us, vs)
        if box is None:
            return None
        r0, r1, c0, c1 = box
        pu = self.px_u[c0:c1]
        with np.errstate(divide="ignore", invalid="ignore"):
            Z = np.where(pu * Xs > 0, self.fW * Xs / pu, np.float32(np.nan))[None, :]
        return box, Z, self.cam_h - self.px_v[r0:r1][:, None] * (Z / self.fW)

    def top_quad(self, Ys, x0, x1, z0, z1):
        """``(box, X h×w, Z h×1)`` on the plane Y = Ys (below the camera) around x0..x1 × z0..z1."""
        z0 = max(z0, 0.3)
        if z1 <= z0 or Ys >= self.cam_h:
            return None
        us = [self.u_v * self.W + self.fW * x / z for x in (x0, x1) for z in (z0, z1)]
        vs = [self.v_h * self.W + self.fW * (self.cam_h - Ys) / z for z in (z0, z1)]
        box = self._quad_box(us, vs)
        if box is None:
            return None
        r0, r1, c0, c1 = box
        pv = self.px_v[r0:r1]
        with np.errstate(divide="ignore", invalid="ignore"):
            Z = np.where(pv > 0, self.fW * (self.cam_h - Ys) / pv, np.float32(np.nan))[:, None]
        return box, self.px_u[c0:c1][None, :] * (Z / self.fW), Z

    # -- painting --------------------------------------------------------------------------------
    def fill(self, box, label, colour):
        r0, r1, c0, c1 = box
        self.lbl[r0:r1, c0:c1] = label
        if colour is not None:
            self.img[:, r0:r1, c0:c1] = colour[:, None, None]

    def paint(self, box, mask, label, colour):
        """Set ``label`` and ``colour`` (a 3-vector, or None: label only) where ``mask`` holds."""
        r0, r1, c0, c1 = box
        np.copyto(self.lbl[r0:r1, c0:c1], label, where=mask)
        if colour is not None:
            img = self.img[:, r0:r1, c0:c1]
            for k in range(3):
                np.copyto(img[k], colour[k], where=mask)

    # -- camera-facing primitives (local metres around an anchor on the ground at (X, Z)) ----------
    def rect(self, X, Z, a0, a1, b0, b1, label, colour):
        box = self._box(X, Z, a0, a1, b0, b1)
        if box is not None:
            self.fill(box, label, colour)

    def ellipse(self, X, Z, ca, cb, ra, rb, label, colour):
        half = 0.5 * Z / self.fW
        ra, rb = max(ra, half), max(rb, half)
        loc = self.local(X, Z, ca - ra, ca + ra, cb - rb, cb + rb)
        if loc is None:
            return
        box, A, B = loc
        if (box[1] - box[0]) * (box[3] - box[2]) <= 2:
            self.fill(box, label, colour)
        else:
            self.paint(box, ((A - ca) / ra) ** 2 + ((B - cb) / rb) ** 2 <= 1.0, label, colour)

    def capsule(self, X, Z, p, q, r, label, colour):
        """The points within ``r`` (at least half a pixel) of the segment p–q."""
        r = max(r, 0.5 * Z / self.fW)
        loc = self.local(X, Z, min(p[0], q[0]) - r, max(p[0], q[0]) + r, min(p[1], q[1]) - r,
                         max(p[1], q[1]) + r)
        if loc is None:
            return
        box, A, B = loc
        if (box[1] - box[0]) * (box[3] - box[2]) <= 2:
            self.fill(box, label, colour)
            return
        px, py = p
        ex, ey = q[0] - px, q[1] - py
        l2 = ex * ex + ey * ey + 1e-12
        A = A - px
        B = B - py
        t = _unit((A * ex + B * ey) * (1.0 / l2))
        self.paint(box, (A - t * ex) ** 2 + (B - t * ey) ** 2 <= r * r, label, colour)


def _unit(x):
    """Clip to [0, 1] (``np.clip`` costs ~10 µs per call on small arrays in numpy 1.23)."""
    return np.minimum(np.maximum(x, np.float32(0)), np.float32(1))


def _shade(colour, factor):
    return _unit(colour * np.float32(factor))


# -- scene layout ------------------------------------------------------------------------------------


class _Layout:
    """The random street: road, sidewalks, facades, and the sun (all in metres)."""

    def __init__(self, rng: _Rng):
        self.road_l = rng.uniform(1.8, 6.0)            # road spans X in [-road_l, road_r]
        self.road_r = rng.uniform(1.6, 5.0)
        self.walk = [rng.uniform(2.0, 5.5), rng.uniform(2.0, 5.5)]   # sidewalk widths, left and right
        self.park = [rng.random() < 0.2, rng.random() < 0.2]
        if self.park[0] and self.park[1]:
            self.park[rng.integers(2)] = False
        self.setback = [rng.uniform(0, 2.5) if not p else rng.uniform(15, 45) for p in self.park]
        self.z_end = rng.uniform(45, 160) if rng.random() < 0.45 else 1e4
        self.sun = rng.uniform(-1, 1)                  # > 0: light from the left
        self.shadow = rng.uniform(0, 1) if rng.random() < 0.5 else 0.0

    def edge(self, side):         # road edge, side 0 left (negative X), 1 right
        return -self.road_l if side == 0 else self.road_r

    def walk_out(self, side):     # outer edge of the sidewalk
        return -(self.road_l + self.walk[0]) if side == 0 else self.road_r + self.walk[1]

    def facade(self, side):
        return (-(self.road_l + self.walk[0] + self.setback[0]) if side == 0
                else self.road_r + self.walk[1] + self.setback[1])


def _frac(x):
    """``x mod 1`` (two fast ufuncs; ``np.mod`` is ~30× slower here)."""
    return x - np.floor(x)


def _layer(masks_colours, shape, base):
    """Planar 3 × h × w image: ``base`` colour, then each (mask, colour) on top, in order."""
    out = np.empty((3,) + shape, np.float32)
    for k in range(3):
        ch = out[k]
        ch[...] = base[k]
        for mask, colour in masks_colours:
            np.copyto(ch, colour[k], where=mask)
    return out


def _draw_sky(cv: _Canvas, rng):
    H, W = cv.H, cv.W
    t = _unit(-cv.dy / np.float32(max(cv.v_h, 1e-3)))[:, None]   # 0 at the horizon, 1 at the top
    if rng.random() < 0.45:   # clear
        top = np.array([rng.uniform(0.2, 0.4), rng.uniform(0.4, 0.6), rng.uniform(0.75, 0.95)], np.float32)
        low = np.array([0.75, 0.82, 0.9], np.float32) * np.float32(rng.uniform(0.9, 1.05))
        cloud = 0.25
    else:                      # overcast, as in most of CamVid
        g = rng.uniform(0.7, 0.95)
        top = np.array([g - 0.05, g - 0.02, g + 0.03], np.float32)
        low = np.array([g + 0.03, g + 0.03, g + 0.04], np.float32)
        cloud = 0.08
    clouds = _unit(_smooth_noise(rng, H, W, 4, 6) * np.float32(0.6) + np.float32(0.2)) * np.float32(cloud)
    for k in range(3):
        cv.img[k] = _unit(low[k] + (top[k] - low[k]) * t + clouds)
    cv.lbl[:] = SKY


def _draw_ground(cv: _Canvas, lay: _Layout, rng):
    rows = np.nonzero(cv.dy > 0)[0]
    if rows.size == 0:
        return
    r0 = int(rows[0])
    Z = (cv.f * cv.cam_h / cv.dy[r0:])[:, None]              # depth of the ground at each row, h × 1
    X = cv.dx[None, :] * (Z / cv.f)                          # lateral position, h × w
    road = (X >= -lay.road_l) & (X <= lay.road_r)
    lbl = np.where(road, np.uint8(ROAD), np.uint8(SIDEWALK))
    grey = rng.uniform(0.25, 0.45)
    road_c = np.array([grey, grey, grey * rng.uniform(1.0, 1.08)], np.float32)
    tone = rng.uniform(0.45, 0.7)
    walk_c = (np.array([tone, tone * 0.95, tone * 0.9], np.float32) if rng.random() < 0.7
              else np.array([tone, tone * 0.7, tone * 0.6], np.float32))       # red pavers
    layers = [(road, road_c)]
    # Paving joints on the sidewalk, curb stones along the road edges.
    joints = ((_frac(X * 2.0) < 0.06) | (_frac(Z * 2.0) < 0.06)) & ~road
    layers.append((joints, walk_c * np.float32(0.8)))
    curb = ((np.abs(X + lay.road_l) < 0.2) | (np.abs(X - lay.road_r) < 0.2)) & ~road
    layers.append((curb, np.full(3, min(tone + 0.15, 0.9), np.float32)))
    # Lane markings (road class, as CamVid merges them into road).
    width = lay.road_l + lay.road_r
    nlanes = max(1, int(round(width / 3.3)))
    dash = rng.uniform(3, 8)
    mark = np.zeros_like(road)
    for k in range(1, nlanes):
        m = -lay.road_l + width * k / nlanes
        mark |= (np.abs(X - m) < 0.08) & (_frac(Z / dash) < 0.45)
    if rng.random() < 0.5:
        mark |= (np.abs(X + lay.road_l - 0.3) < 0.07) | (np.abs(X - lay.road_r + 0.3) < 0.07)
    if rng.random() < 0.25:   # zebra crossing
        zc = rng.uniform(8, 30)
        mark |= (Z > zc) & (Z < zc + 3.5) & (_frac(X / 0.6) < 0.5)
    layers.append((mark & road, np.array([0.88, 0.88, 0.85], np.float32) * np.float32(rng.uniform(0.8, 1.0))))
    # Grass beyond the sidewalk on a park side (vegetation belongs to CamVid's tree class).
    for side in (0, 1):
        if lay.park[side]:
            beyond = (X < lay.walk_out(0)) if side == 0 else (X > lay.walk_out(1))
            lbl[beyond] = TREE
            layers.append((beyond, np.array([rng.uniform(0.2, 0.35), rng.uniform(0.35, 0.5),
                                             rng.uniform(0.1, 0.2)], np.float32)))
    img = _layer(layers, X.shape, walk_c)
    # A cast shadow of the buildings on the side the sun comes from.
    if lay.shadow > 0:
        side_x = -lay.road_l if lay.sun > 0 else lay.road_r
        reach = lay.shadow * (width * 0.8)
        shade = (X < side_x + reach) if side_x < 0 else (X > side_x - reach)
        img *= np.where(shade, np.float32(rng.uniform(0.55, 0.75)), np.float32(1.0))
    cv.img[:, r0:] = img
    cv.lbl[r0:] = lbl


def _facade_colour(rng, n):
    idx = rng.integers(0, len(_BUILDING_COLOURS), n)
    return _unit(_BUILDING_COLOURS[idx] * rng.uniform(0.85, 1.15, (n, 1)).astype(np.float32))


def _draw_facades(cv: _Canvas, lay: _Layout, rng):
    H = cv.H
    for side in (0, 1):
        Xf = lay.facade(side)
        # Buildings along the street: segments in Z with their own height, colour and windows.
        nseg = 40
        lengths = rng.uniform(8, 30, nseg)
        bounds = np.cumsum(lengths) - rng.uniform(0, 20)
        park = lay.park[side]
        heights = rng.uniform(5, 14, nseg) if park else rng.uniform(6, 22, nseg)
        heights[rng.random(nseg) < (0.05 if not park else 0.3)] = 0.0        # gaps between buildings
        colours = _facade_colour(rng, nseg) * np.float32(1.0 + 0.2 * lay.sun * (1 if side == 1 else -1))
        floor_h = rng.uniform(2.8, 3.6, nseg)
        win_sp = rng.uniform(1.8, 3.5, nseg)
        win_w = rng.uniform(0.3, 0.6, nseg)
        glass = _unit(_GLASS + rng.uniform(0, 0.25, (nseg, 1)).astype(np.float32))
        starts = np.concatenate([[bounds[0] - lengths[0]], bounds[:-1]])
        cols = np.nonzero(cv.dx < 0)[0] if side == 0 else np.nonzero(cv.dx > 0)[0]
        if cols.size == 0:
            continue
        c0, c1 = int(cols[0]), int(cols[-1]) + 1
        Zs = cv.fW * Xf / cv.px_u[c0:c1]                                 # depth of each column, w
        seg = np.minimum(np.searchsorted(bounds, Zs), nseg - 1)
        Y = cv.cam_h - cv.px_v[:, None] * (Zs / cv.fW)[None, :]         # height of each pixel, H × w
        h = heights[seg][None, :].astype(np.float32)
        visible = ((Zs < min(lay.z_end, 2000.0)) & (Zs > 0.5))[None, :]
        mask = (Y >= 0) & (Y <= h) & visible
        if not mask.any():
            continue
        lz = _frac((Zs - starts[seg]) / win_sp[seg]).astype(np.float32)[None, :]
        hw = (win_w[seg] / 2).astype(np.float32)[None, :]
        fl = Y / floor_h[seg].astype(np.float32)[None, :]
        flf = _frac(fl)
        windows = ((np.abs(lz - 0.5) < hw) & (flf > 0.3) & (flf < 0.78) & (fl > 1.0) & (Y < h - 0.6))
        windows |= (fl < 1.0) & (Y > 0.3) & (Y < 2.5) & (lz < 0.75)      # shop fronts
        sub = cv.img[:, :, c0:c1]
        for k in range(3):
            np.copyto(sub[k], np.where(windows, glass[seg, k][None, :], colours[seg, k][None, :]), where=mask)
        cv.lbl[:, c0:c1][mask] = BUILDING
    # A building closing the street at Z = z_end.
    if lay.z_end < 1e3:
        Z = lay.z_end
        Hend = rng.uniform(8, 25)
        loc = cv.local(0.0, Z, lay.facade(0), lay.facade(1), 0.0, Hend)
        if loc is not None:
            box, X, Y = loc
            cv.fill(box, BUILDING, _facade_colour(rng, 1)[0])
            sp = rng.uniform(2, 3.5)
            fl = Y / rng.uniform(2.8, 3.5)
            flf = _frac(fl)
            win = (_frac(X / sp) < 0.45) & (flf > 0.3) & (flf < 0.75) & (fl > 1) & (Y < Hend - 0.5)
            cv.paint(box, win, BUILDING, _GLASS * np.float32(1.3))


# -- objects ------------------------------------------------------------------------------------------
# Each object draws itself with its own random stream, far to near (painter's algorithm). Below a few
# pixels an object is drawn as a handful of rectangles (level of detail): same silhouette, less work.

_DARK = np.array([0.06, 0.06, 0.07], np.float32)
_WHITE = np.array([0.92, 0.92, 0.9], np.float32)
_RED = np.array([0.8, 0.1, 0.1], np.float32)
_BLUE = np.array([0.1, 0.25, 0.7], np.float32)


def _pick(rng, table):
    return table[rng.integers(len(table))]


def _car(cv: _Canvas, rng, xc, z0, oncoming=False):
    L = rng.uniform(3.8, 4.8)
    w = rng.uniform(1.65, 1.9)
    van = rng.random() < 0.15
    hb = rng.uniform(0.8, 1.0) if not van else rng.uniform(1.0, 1.3)
    hc = rng.uniform(1.35, 1.6) if not van else rng.uniform(1.9, 2.4)
    x0, x1 = xc - w / 2, xc + w / 2
    px = cv.fW / z0 * hc                       # height in pixels
    if px < 1.0:
        return
    col = _shade(_pick(rng, _CAR_COLOURS), rng.uniform(0.9, 1.1))
    glass = _unit(_GLASS + np.float32(rng.uniform(0, 0.2)))
    detail = px >= 8
    side = np.float32(0.75 + 0.1 * rng.uniform(-1, 1))
    cz0, cz1 = (z0 + 0.2 * L, z0 + 0.72 * L) if not van else (z0 + 0.02 * L, z0 + 0.9 * L)
    cx0, cx1 = x0 + 0.1, x1 - 0.1
    if hb < cv.cam_h and detail:   # bonnet / boot
        q = cv.top_quad(hb, x0, x1, z0, z0 + L)
        if q is not None:
            box, X, Z = q
            cv.paint(box, (X >= x0) & (X <= x1) & (Z >= z0) & (Z <= z0 + L), CAR, _shade(col, 1.05))
    xs = x0 if x0 > 0 else (x1 if x1 < 0 else None)      # the visible side, if the car is off-axis
    if xs is not None:
        csx = cx0 if xs == x0 else cx1
        q = cv.side_quad(csx, cz0, cz1, hb, hc)
        if q is not None:
            box, Z, Y = q
            cab = (Z >= cz0) & (Z <= cz1) & (Y >= hb) & (Y <= hc)
            cv.paint(box, cab, CAR, col * side)
            if detail:
                win = (cab & (Y >= hb + 0.08) & (Y <= hc - 0.08) & (Z > cz0 + 0.1) & (Z < cz1 - 0.1)
                       & (np.abs(Z - (cz0 + cz1) / 2) > 0.06))
                cv.paint(box, win, CAR, glass * np.float32(0.8))
    if hc < cv.cam_h and px >= 4:   # roof
        q = cv.top_quad(hc, cx0, cx1, cz0, cz1)
        if q is not None:
            box, X, Z = q
            cv.paint(box, (X >= cx0) & (X <= cx1) & (Z >= cz0) & (Z <= cz1), CAR, _shade(col, 1.1))
    # Cabin rear (or front) face with its window.
    cv.rect(0.0, cz0, cx0, cx1, hb, hc, CAR, col * np.float32(0.9))
    if detail:
        cv.rect(0.0, cz0, cx0 + 0.08, cx1 - 0.08, hb + 0.06, hc - 0.07, CAR, glass)
    if xs is not None:
        q = cv.side_quad(xs, z0, z0 + L, 0.0, hb)
        if q is not None:
            box, Z, Y = q
            cv.paint(box, (Z >= z0) & (Z <= z0 + L) & (Y >= 0) & (Y <= hb), CAR, col * side)
            if detail:
                wz = (z0 + 0.18 * L, z0 + 0.82 * L)
                wheels = ((Z - wz[0]) ** 2 + (Y - 0.32) ** 2 <= 0.1) | ((Z - wz[1]) ** 2 + (Y - 0.32) ** 2 <= 0.1)
                cv.paint(box, wheels & (Y >= 0), CAR, _DARK)
    # Body rear (or front) face: lights, plate, bumper and tyres.
    cv.rect(0.0, z0, x0, x1, 0.0, hb, CAR, col * np.float32(0.92))
    if detail:
        light = np.array([0.95, 0.95, 0.8], np.float32) if oncoming else np.array([0.8, 0.1, 0.08], np.float32)
        cv.rect(0.0, z0, x0 + 0.05, x0 + 0.35, hb - 0.28, hb - 0.08, CAR, light)
        cv.rect(0.0, z0, x1 - 0.35, x1 - 0.05, hb - 0.28, hb - 0.08, CAR, light)
        cv.rect(0.0, z0, xc - 0.26, xc + 0.26, 0.32, 0.45, CAR, np.array([0.9, 0.9, 0.85], np.float32))
        cv.rect(0.0, z0, x0, x1, 0.0, 0.22, CAR, _DARK * np.float32(1.5))
        cv.rect(0.0, z0, x0 + 0.05, x0 + 0.3, 0.0, 0.3, CAR, _DARK)
        cv.rect(0.0, z0, x1 - 0.3, x1 - 0.05, 0.0, 0.3, CAR, _DARK)


def _pedestrian(cv: _Canvas, rng, X, Z):
    h = rng.uniform(1.5, 1.95)
    top = _pick(rng, _CLOTHES)
    legs = _pick(rng, _CLOTHES)
    skin = _pick(rng, _SKIN)
    hair = _shade(np.array([0.1, 0.08, 0.05], np.float32), rng.uniform(0.8, 4))
    side = rng.random() < 0.5
    stride = rng.uniform(0.0, 0.2) * h if side else rng.uniform(0, 0.05) * h
    swing = rng.uniform(-0.12, 0.12) * h
    bag = rng.random() < 0.25
    px = cv.fW / Z * h
    if px < 1.0:
        return
    if px < 10:     # a few pixels tall: legs, body, head
        cv.rect(X, Z, -0.07 * h - stride, 0.07 * h + stride, 0.0, 0.48 * h, PEDESTRIAN, legs)
        cv.rect(X, Z, -0.12 * h, 0.12 * h, 0.48 * h, 0.84 * h, PEDESTRIAN, top)
        cv.rect(X, Z, -0.06 * h, 0.06 * h, 0.84 * h, h, PEDESTRIAN, skin)
        return
    hip = 0.48 * h
    for s in (-1, 1):
        foot = (s * (0.06 * h + stride) if side else s * (0.07 * h + stride), 0.02 * h)
        cv.capsule(X, Z, (s * 0.04 * h * (not side), hip), foot, 0.045 * h, PEDESTRIAN, legs)
    width = 0.08 * h if side else 0.11 * h
    cv.capsule(X, Z, (0, hip + 0.06 * h), (0, 0.76 * h), width, PEDESTRIAN, top)
    for s in ((-1, 1) if not side else (0,)):
        hand = (s * 0.15 * h + (swing if side else 0), 0.5 * h)
        cv.capsule(X, Z, (s * 0.12 * h, 0.8 * h), hand, 0.032 * h, PEDESTRIAN, top * np.float32(0.85))
    cv.ellipse(X, Z, 0, 0.905 * h, 0.06 * h, 0.07 * h, PEDESTRIAN, skin)
    cv.ellipse(X, Z, 0, 0.94 * h, 0.062 * h, 0.045 * h, PEDESTRIAN, hair)
    if bag:
        cv.rect(X, Z, 0.1 * h, 0.22 * h, 0.45 * h, 0.62 * h, PEDESTRIAN, _pick(rng, _CLOTHES))


def _bicyclist(cv: _Canvas, rng, X, Z):
    frame = _pick(rng, _CAR_COLOURS)
    top = _pick(rng, _CLOTHES)
    legs = _pick(rng, _CLOTHES)
    skin = _pick(rng, _SKIN)
    helmet = _pick(rng, _CAR_COLOURS) if rng.random() < 0.5 else None
    side_view = rng.random() < 0.6
    s = 1 if rng.random() < 0.5 else -1          # facing right or left
    px = cv.fW / Z * 1.8
    if px < 1.0:
        return
    if side_view:
        if px < 10:
            cv.rect(X, Z, -0.86, 0.86, 0.0, 0.68, BICYCLIST, _DARK * np.float32(2))
            cv.rect(X, Z, -0.25, 0.3, 0.68, 1.5, BICYCLIST, top)
            cv.rect(X, Z, -0.05 + 0.25 * s, 0.1 + 0.25 * s, 1.5, 1.75, BICYCLIST, skin)
            return
        r = 0.34
        for cx in (-0.52, 0.52):
            loc = cv.local(X, Z, cx - r, cx + r, 0.0, 2 * r)
            if loc is not None:
                box, A, B = loc
                d2 = (A - cx) ** 2 + (B - r) ** 2
                disk = d2 <= r * r
                cv.paint(box, disk, BICYCLIST, None)        # spokes: the background shows through
                cv.paint(box, disk & ((d2 >= (r - max(0.06, Z / cv.fW)) ** 2) | (d2 <= 0.004)), BICYCLIST, _DARK)
        seat, crank, head_tube = (-0.2 * s, 0.9), (0.0, 0.35), (0.42 * s, 0.95)
        rear, front = (-0.52 * s, r), (0.52 * s, r)
        for p, q in ((rear, seat), (seat, crank), (crank, rear), (seat, head_tube), (head_tube, front),
                     (crank, head_tube)):
            cv.capsule(X, Z, p, q, 0.03, BICYCLIST, frame)
        knee = (0.12 * s, 0.72)
        cv.capsule(X, Z, (-0.18 * s, 1.0), knee, 0.07, BICYCLIST, legs)
        cv.capsule(X, Z, knee, (0.02 * s, 0.3), 0.055, BICYCLIST, legs)
        cv.capsule(X, Z, (-0.18 * s, 1.0), (0.18 * s, 1.45), 0.12, BICYCLIST, top)
        cv.capsule(X, Z, (0.18 * s, 1.45), (0.42 * s, 1.02), 0.04, BICYCLIST, top * np.float32(0.85))
        cv.ellipse(X, Z, 0.27 * s, 1.62, 0.1, 0.11, BICYCLIST, skin)
        if helmet is not None:
            cv.ellipse(X, Z, 0.25 * s, 1.68, 0.12, 0.07, BICYCLIST, helmet)
    else:                          # seen from behind (or in front): narrow wheel, wide rider
        if px < 10:
            cv.rect(X, Z, -0.05, 0.05, 0.0, 0.7, BICYCLIST, _DARK)
            cv.rect(X, Z, -0.2, 0.2, 0.7, 1.45, BICYCLIST, top)
            cv.rect(X, Z, -0.1, 0.1, 1.45, 1.72, BICYCLIST, skin * np.float32(0.6))
            return
        cv.rect(X, Z, -0.04, 0.04, 0.0, 0.68, BICYCLIST, _DARK)
        cv.capsule(X, Z, (-0.3, 1.05), (0.3, 1.05), 0.025, BICYCLIST, _DARK)
        for t in (-1, 1):
            cv.capsule(X, Z, (t * 0.1, 0.95), (t * 0.08, 0.35), 0.06, BICYCLIST, legs)
            cv.capsule(X, Z, (t * 0.17, 1.4), (t * 0.3, 1.06), 0.04, BICYCLIST, top)
        cv.capsule(X, Z, (0, 0.98), (0, 1.4), 0.17, BICYCLIST, top)
        cv.ellipse(X, Z, 0, 1.6, 0.1, 0.11, BICYCLIST, skin * np.float32(0.6))
        if helmet is not None:
            cv.ellipse(X, Z, 0, 1.68, 0.12, 0.07, BICYCLIST, helmet)


def _pole(cv: _Canvas, rng, X, Z, toward_road, with_sign=None):
    kind = rng.choice(["light", "plain", "traffic"], p=[0.45, 0.35, 0.2])
    h = {"light": rng.uniform(5, 8), "plain": rng.uniform(2.5, 4), "traffic": rng.uniform(3, 4.2)}[kind]
    r = rng.uniform(0.06, 0.12)
    arm = rng.uniform(1.0, 2.5) if kind == "light" else 0.0
    col = _shade(np.array([0.3, 0.3, 0.32], np.float32), rng.uniform(0.6, 2.2))
    if with_sign is None:
        with_sign = kind == "plain"
    sign_y = rng.uniform(min(h - 0.4, 2.2), h)
    if cv.fW / Z * h < 1.5:
        return
    cv.rect(X, Z, -r, r, 0, h, POLE, col)
    if kind == "light":
        tip = (toward_road * arm, h + 0.2)
        cv.capsule(X, Z, (0, h), tip, 0.05, POLE, col)
        cv.ellipse(X, Z, tip[0], tip[1] - 0.1, 0.3, 0.1, POLE, np.array([0.55, 0.55, 0.5], np.float32))
    elif kind == "traffic":
        cy = h - 0.1
        cv.rect(X, Z, -0.17, 0.17, cy - 0.95, cy, SIGN, np.array([0.1, 0.1, 0.08], np.float32))
        if cv.fW / Z * 0.3 >= 2:
            on = rng.integers(3)
            lamps = (np.array([0.9, 0.15, 0.1], np.float32), np.array([0.95, 0.7, 0.1], np.float32),
                     np.array([0.2, 0.85, 0.3], np.float32))
            for k in range(3):
                cv.ellipse(X, Z, 0, cy - 0.17 - 0.3 * k, 0.1, 0.1, SIGN, lamps[k] * np.float32(1.0 if k == on else 0.3))
    if with_sign:
        _sign(cv, rng, X, Z, sign_y)


def _sign(cv: _Canvas, rng, X, Z, y):
    kind = rng.integers(5)
    s = rng.uniform(0.3, 0.45)
    info = (_BLUE, np.array([0.1, 0.45, 0.2], np.float32), _WHITE, np.array([0.95, 0.8, 0.1], np.float32))[
        rng.integers(4)]
    if kind == 0:      # prohibition: red ring, white inside
        cv.ellipse(X, Z, 0, y, s, s, SIGN, _RED)
        cv.ellipse(X, Z, 0, y, s * 0.72, s * 0.72, SIGN, _WHITE)
    elif kind == 1:    # mandatory: blue disk with a white bar
        cv.ellipse(X, Z, 0, y, s, s, SIGN, _BLUE)
        cv.rect(X, Z, -s * 0.5, s * 0.5, y - 0.08 * s, y + 0.08 * s, SIGN, _WHITE)
    elif kind == 2:    # warning triangle
        loc = cv.local(X, Z, -s, s, y - s, y + s)
        if loc is not None:
            box, A, B = loc
            tri = (B >= y - s) & (np.abs(A) <= (y + s - B) * 0.58)
            cv.paint(box, tri, SIGN, _RED)
            cv.paint(box, tri & (B >= y - 0.6 * s) & (np.abs(A) <= (y + 0.45 * s - B) * 0.58), SIGN, _WHITE)
    elif kind == 3:    # information panel
        cv.rect(X, Z, -1.3 * s, 1.3 * s, y - 0.8 * s, y + 0.8 * s, SIGN, info)
    else:              # stop: red octagon
        loc = cv.local(X, Z, -s, s, y - s, y + s)
        if loc is not None:
            box, A, B = loc
            cv.paint(box, np.abs(A) + np.abs(B - y) <= 1.42 * s, SIGN, _RED)


def _tree(cv: _Canvas, rng, X, Z):
    h = rng.uniform(4, 10)
    rc = rng.uniform(0.25, 0.45) * h
    trunk = _shade(np.array([0.3, 0.22, 0.15], np.float32), rng.uniform(0.7, 1.3))
    tr = rng.uniform(0.1, 0.2)
    autumn = rng.random() < 0.15
    base = (np.array([0.55, 0.45, 0.12], np.float32) if autumn
            else np.array([rng.uniform(0.12, 0.3), rng.uniform(0.3, 0.5), rng.uniform(0.08, 0.2)], np.float32))
    px = cv.fW / Z * rc
    if px < 0.7:
        return
    cv.rect(X, Z, -tr, tr, 0.0, h - 0.5 * rc, TREE, trunk)
    n = rng.integers(4, 8) if px >= 5 else 2
    blobs = [(rng.normal(0, 0.5) * rc, h - rc * 0.2 + rng.normal(0, 0.35) * rc, rng.uniform(0.45, 0.8) * rc,
              rng.uniform(0.7, 1.0), rng.uniform(0.7, 1.25)) for _ in range(n)]
    if px < 5:
        for ca, cb, ra, asp, light in blobs:
            cv.ellipse(X, Z, ca, cb, ra, ra * asp, TREE, _shade(base, light))
        return
    # The crown: overlapping ellipses evaluated on one pixel grid.
    loc = cv.local(X, Z, min(b[0] - b[2] for b in blobs), max(b[0] + b[2] for b in blobs),
                   min(b[1] - b[2] for b in blobs), max(b[1] + b[2] for b in blobs))
    if loc is None:
        return
    box, A, B = loc
    for ca, cb, ra, asp, light in blobs:
        da = ((A - ca) * (1.0 / ra)) ** 2
        cv.paint(box, da + ((B - cb) * (1.0 / (ra * asp))) ** 2 <= 1.0, TREE, _shade(base, light))


def _fence(cv: _Canvas, rng, Xf, z0, z1):
    hgt = rng.uniform(0.9, 1.8)
    col = _shade(np.array([0.35, 0.36, 0.38], np.float32) if rng.random() < 0.5
                 else np.array([0.45, 0.32, 0.2], np.float32), rng.uniform(0.7, 1.5))
    post_sp = rng.uniform(1.5, 3.0)
    slat_sp = rng.uniform(0.1, 0.3)
    fill = rng.uniform(0.3, 0.8)
    q = cv.side_quad(Xf, z0, z1, 0.0, hgt)
    if q is None:
        return
    box, Z, Y = q
    inside = (Z >= z0) & (Z <= z1) & (Y >= 0) & (Y <= hgt)
    solid = (((Z - z0) / post_sp) % 1.0 < 0.06) | (Y >= hgt - 0.1) | ((Y >= 0.15) & (Y <= 0.25))
    solid |= ((Z - z0) / slat_sp) % 1.0 < fill
    cv.paint(box, inside, FENCE, None)                     # slats or mesh: see-through between them
    cv.paint(box, inside & solid, FENCE, col)


def _clutter(cv: _Canvas, rng, X, Z):
    """Unlabelled objects (bins, boxes, kiosks): void, as CamVid's unlabelled clutter."""
    w = rng.uniform(0.4, 1.5)
    h = rng.uniform(0.5, 1.6)
    cv.rect(X, Z, -w / 2, w / 2, 0.0, h, VOID, np.array([rng.uniform(0.1, 0.8) for _ in range(3)], np.float32))


_AT_DEPTH = object()   # placeholder for the depth argument of a deferred draw call


def _depth(rng, near=4.0, far=80.0):
    return math.exp(rng.uniform(math.log(near), math.log(far)))


def _objects(cv: _Canvas, lay: _Layout, rng):
    """Place every object; returns ``(layer, -depth, order, function, args)`` to draw far to near.

    Layer 0 lies beyond the fences (park trees), layer 1 is the fences, layer 2 the street.
    """
    items = []
    zmax = min(lay.z_end - 2.0, 120.0)

    def add(layer, z, fn, *args):
        if 1.0 < z < zmax:
            items.append((layer, -z, len(items), fn, args))

    width = lay.road_l + lay.road_r
    nl = max(1, int(round(width / 3.3)))
    lanes = [-lay.road_l + width * (k + 0.5) / nl for k in range(nl)]
    # Moving cars; lanes left of the camera carry oncoming traffic on wide roads.
    for _ in range(rng.poisson(3.0)):
        x = lanes[rng.integers(nl)] + rng.normal(0, 0.25)
        add(2, _depth(rng, 6, 90), _car, cv, rng.child(), x, _AT_DEPTH, x < -1.8 and nl > 1)
    # Parked cars along one or both curbs.
    for side in (0, 1):
        if rng.random() < 0.5:
            z = rng.uniform(3, 15)
            while z < 60:
                if rng.random() < 0.75:
                    x = lay.edge(side) + (1.1 if side == 0 else -1.1)
                    add(2, z, _car, cv, rng.child(), x, _AT_DEPTH, False)
                z += rng.uniform(5.0, 9.0)
    # Pedestrians on the sidewalks, sometimes crossing.
    for _ in range(rng.poisson(3.5)):
        side = rng.integers(2)
        x = lay.edge(side) + (lay.walk_out(side) - lay.edge(side)) * rng.uniform(0.2, 0.9)
        if rng.random() < 0.15:
            x = rng.uniform(-lay.road_l, lay.road_r)
        add(2, _depth(rng, 4, 50), _pedestrian, cv, rng.child(), x, _AT_DEPTH)
    # Bicyclists near the curb, in most images.
    for _ in range(int(rng.random() < 0.85) + int(rng.random() < 0.3)):
        side = rng.integers(2)
        x = lay.edge(side) + (0.9 if side == 0 else -0.9) + rng.normal(0, 0.3)
        add(2, _depth(rng, 5, 35), _bicyclist, cv, rng.child(), x, _AT_DEPTH)
    # Poles (street lights, traffic lights, sign posts) near the curb at regular spacing.
    for side in (0, 1):
        sp = rng.uniform(12, 30)
        z = rng.uniform(3, sp)
        x = lay.edge(side) + (-0.5 if side == 0 else 0.5)
        toward = 1 if side == 0 else -1
        while z < 80:
            add(2, z, _pole, cv, rng.child(), x, _AT_DEPTH, toward, None)
            z += sp * rng.uniform(0.8, 1.2)
    for _ in range(rng.integers(1, 3)):       # free-standing sign posts
        side = rng.integers(2)
        x = lay.edge(side) + (-0.4 if side == 0 else 0.4)
        add(2, _depth(rng, 5, 45), _pole, cv, rng.child(), x, _AT_DEPTH, 1 if side == 0 else -1, True)
    # Trees: along the curb, and many in a park (behind its fence).
    for side in (0, 1):
        if rng.random() < 0.5:
            sp = rng.uniform(8, 20)
            z = rng.uniform(3, sp)
            x = lay.edge(side) + (-0.9 if side == 0 else 0.9)
            while z < 70:
                add(2, z, _tree, cv, rng.child(), x, _AT_DEPTH)
                z += sp * rng.uniform(0.7, 1.3)
        if lay.park[side]:
            for _ in range(rng.integers(5, 12)):
                d = rng.uniform(1.5, lay.setback[side] - 2)
                x = lay.walk_out(side) + (-d if side == 0 else d)
                add(0, rng.uniform(3, 80), _tree, cv, rng.child(), x, _AT_DEPTH)
    # Fences at the outer edge of the sidewalk.
    for side in (0, 1):
        if rng.random() < (0.85 if lay.park[side] else 0.3):
            z0 = rng.uniform(2, 15)
            z1 = min(z0 + rng.uniform(10, 80), zmax)
            items.append((1, -z0, len(items), _fence, (cv, rng.child(), lay.walk_out(side) * 0.999, z0, z1)))
    # Unlabelled clutter on the sidewalk.
    for _ in range(rng.poisson(0.8)):
        side = rng.integers(2)
        x = lay.edge(side) + (lay.walk_out(side) - lay.edge(side)) * rng.uniform(0.3, 0.9)
        add(2, _depth(rng, 4, 40), _clutter, cv, rng.child(), x, _AT_DEPTH)
    return items


def render_scene(height: int, width: int, seed: int = 0, index: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Render image ``index`` of the stream ``seed``: ``(image uint8 H×W×3, labels uint8 H×W)``.

    The layout, objects and lighting use streams that never see the pixel count, so one ``(seed,
    index)`` is the same scene at every resolution.
    """
    s_layout, s_objects, s_finish, s_pixels = (
        int(v) for v in np.random.SeedSequence([int(seed), int(index)]).generate_state(4, np.uint64))
    rng = _Rng(s_layout)
    H, W = int(height), int(width)
    cv = _Canvas(H, W, rng)
    lay = _Layout(rng)
    _draw_sky(cv, rng)
    _draw_ground(cv, lay, rng)
    _draw_facades(cv, lay, rng)
    items = _objects(cv, lay, _Rng(s_objects))
    items.sort(key=lambda t: (t[0], t[1], t[2]))
    for _layer, negz, _k, fn, args in items:
        fn(*(-negz if a is _AT_DEPTH else a for a in args))
    return _finish(cv, _Rng(s_finish), np.random.default_rng(s_pixels))


_BANK = {}


def _noise_bank() -> np.ndarray:
    """A fixed 3 × 512 × 512 bank of standard normal noise; images take random windows of it.

    Drawing fresh Gaussian noise for every pixel costs more than rendering the scene; windows of one
    bank (fixed seed, so still deterministic) look the same to a network.
    """
    if "b" not in _BANK:
        _BANK["b"] = np.random.default_rng(20240611).standard_normal((3, 512, 512), dtype=np.float32)
    return _BANK["b"]


def _pixel_noise(prng: np.random.Generator, H: int, W: int) -> list[np.ndarray]:
    """Three H × W planes of standard normal noise (random windows of the bank; fresh noise if larger)."""
    bank = _noise_bank()
    if H > bank.shape[1] or W > bank.shape[2]:
        return list(prng.standard_normal((3, H, W), dtype=np.float32))
    oy = prng.integers(0, bank.shape[1] - H + 1, 3)
    ox = prng.integers(0, bank.shape[2] - W + 1, 3)
    return [bank[k, oy[k]:oy[k] + H, ox[k]:ox[k] + W] for k in range(3)]


def _finish(cv: _Canvas, rng, prng):
    """Texture, lighting, blur, sensor noise and the void band; returns uint8 image and labels."""
    H, W = cv.H, cv.W
    img, lbl = cv.img, cv.lbl
    noise = _pixel_noise(prng, H, W)
    # Texture: per-pixel and mid-scale noise, stronger on vegetation than on sky.
    amp = _TEXTURE[lbl]
    img *= 1 + amp * (noise[0] + np.float32(0.7) * _smooth_noise(rng, H, W, 12, 16))
    # Lighting: a gradient across the image.
    theta = rng.uniform(0, 2 * math.pi)
    g = rng.uniform(-0.45, 0.45)
    gy = (np.arange(H, dtype=np.float32) / H - 0.5)[:, None] * np.float32(g * math.sin(theta))
    gx = (np.arange(W, dtype=np.float32) / W - 0.5)[None, :] * np.float32(g * math.cos(theta))
    img *= 1 + gy + gx
    if rng.random() < 0.6:   # mild optical blur
        p = np.pad(img, ((0, 0), (1, 1), (1, 1)), mode="edge")
        img = np.float32(0.4) * img + np.float32(0.15) * (p[:, :-2, 1:-1] + p[:, 2:, 1:-1] + p[:, 1:-1, :-2]
                                                          + p[:, 1:-1, 2:])
    # Sensor noise, then the camera's tone curve (contrast, brightness, colour cast, gamma) as a LUT.
    sigma = rng.uniform(0.005, 0.03)
    for k in range(3):
        img[k] += np.float32(sigma) * noise[(k + 1) % 3]
    q = (_unit(img) * 255 + 0.5).astype(np.uint8)
    x = np.arange(256, dtype=np.float32) / 255
    contrast, bright, gamma = rng.uniform(0.65, 1.2), rng.uniform(-0.15, 0.12), rng.uniform(0.75, 1.3)
    out = np.empty((H, W, 3), np.uint8)
    for k in range(3):
        cast = 1 + rng.normal(0, 0.05)
        lut = _unit(((x - 0.5) * contrast + 0.5 + bright) * cast) ** gamma
        out[:, :, k] = (lut * 255 + 0.5).astype(np.uint8)[q[k]]
    # A thin void band along some object outlines (CamVid's annotators left such bands).
    objects = (lbl == POLE) | (lbl == SIGN) | (lbl >= CAR) | (lbl == TREE) | (lbl == FENCE)
    edge = np.zeros((H, W), bool)
    edge[1:] |= lbl[1:] != lbl[:-1]
    edge[:, 1:] |= lbl[:, 1:] != lbl[:, :-1]
    where = _smooth_noise(rng, H, W, 3, 4) > rng.uniform(0.3, 1.5)
    lbl = lbl.copy()
    lbl[edge & objects & where & (lbl != VOID)] = VOID
    return out, lbl
