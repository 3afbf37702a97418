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
object one over its bounding box. 500 images of 96×128 take a few seconds on one core.
"""

from __future__ import annotations

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
    images, labels = generate(n, height, width, seed=s)
    return images.astype(np.float32) / np.float32(255.0), labels


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


def _smooth_noise(rng: np.random.Generator, H: int, W: int, cells_y: int, cells_x: int) -> np.ndarray:
    """Bilinearly interpolated Gaussian noise on a ``cells_y × cells_x`` grid (resolution independent)."""
    g = rng.standard_normal((cells_y + 2, cells_x + 2)).astype(np.float32)
    ys = (np.arange(H, dtype=np.float32) + 0.5) * (cells_y / H) + 0.5
    xs = (np.arange(W, dtype=np.float32) + 0.5) * (cells_x / W) + 0.5
    y0 = ys.astype(np.int64)
    x0 = xs.astype(np.int64)
    wy = (ys - y0)[:, None]
    wx = (xs - x0)[None, :]
    a = g[y0][:, x0]
    b = g[y0][:, x0 + 1]
    c = g[y0 + 1][:, x0]
    d = g[y0 + 1][:, x0 + 1]
    return (a * (1 - wx) + b * wx) * (1 - wy) + (c * (1 - wx) + d * wx) * wy


class _Canvas:
    """Camera, image and label buffers, and the primitives objects are drawn with."""

    def __init__(self, H: int, W: int, rng: np.random.Generator):
        self.H, self.W = H, W
        self.f = float(rng.uniform(0.7, 0.95))                    # focal length, image widths
        self.u_v = float(rng.uniform(0.38, 0.62))                 # vanishing point, image widths
        self.v_h = (H / W) * float(rng.uniform(0.36, 0.5))        # horizon row, image widths
        self.cam_h = float(rng.uniform(1.2, 1.7))                 # camera height, m
        self.dx = ((np.arange(W, dtype=np.float32) + 0.5) / W - self.u_v)
        self.dy = ((np.arange(H, dtype=np.float32) + 0.5) / W - self.v_h)
        self.img = np.zeros((H, W, 3), np.float32)
        self.lbl = np.zeros((H, W), np.uint8)

    # -- projection ------------------------------------------------------------------------------
    def bbox(self, xs, ys, zs):
        """Pixel box ``(r0, r1, c0, c1)`` covering world points, or None if off-screen."""
        W, f = self.W, self.f
        cols, rows = [], []
        for x in xs:
            for z in zs:
                cols.append((self.u_v + f * x / z) * W - 0.5)
        for y in ys:
            for z in zs:
                rows.append((self.v_h + f * (self.cam_h - y) / z) * W - 0.5)
        c0 = max(int(math.floor(min(cols))), 0)
        c1 = min(int(math.ceil(max(cols))) + 1, W)
        r0 = max(int(math.floor(min(rows))), 0)
        r1 = min(int(math.ceil(max(rows))) + 1, self.H)
        if c0 >= c1 or r0 >= r1:
            return None
        return r0, r1, c0, c1

    def billboard(self, box, X, Z):
        """Local metre coordinates (a right of X, b above ground) of a camera-facing plane at depth Z."""
        r0, r1, c0, c1 = box
        a = self.dx[c0:c1] * (Z / self.f) - X
        b = self.cam_h - self.dy[r0:r1] * (Z / self.f)
        return a[None, :], b[:, None]

    def rear_plane(self, box, Z):
        """World (X, Y) on the plane Z = const over a pixel box."""
        r0, r1, c0, c1 = box
        return self.dx[c0:c1][None, :] * (Z / self.f), (self.cam_h - self.dy[r0:r1] * (Z / self.f))[:, None]

    def side_plane(self, box, X):
        """World (Z, Y) on the plane X = const (Z is NaN where the plane is behind the camera)."""
        r0, r1, c0, c1 = box
        dx = self.dx[c0:c1]
        with np.errstate(divide="ignore", invalid="ignore"):
            Z = np.where(dx * X > 0, self.f * X / dx, np.nan)
        Y = self.cam_h - self.dy[r0:r1][:, None] * (Z[None, :] / self.f)
        return Z[None, :], Y

    def top_plane(self, box, Y):
        """World (X, Z) on the plane Y = const (below the camera)."""
        r0, r1, c0, c1 = box
        dy = self.dy[r0:r1]
        with np.errstate(divide="ignore", invalid="ignore"):
            Z = np.where(dy > 0, self.f * (self.cam_h - Y) / dy, np.nan)
        return self.dx[c0:c1][None, :] * (Z[:, None] / self.f), Z[:, None]

    def px_m(self, Z):
        """Size of one pixel in metres at depth Z (used to keep thin parts at least ~1 px wide)."""
        return Z / (self.f * self.W)

    # -- painting --------------------------------------------------------------------------------
    def paint(self, box, mask, label, colour):
        r0, r1, c0, c1 = box
        lbl = self.lbl[r0:r1, c0:c1]
        if mask.shape != lbl.shape:
            mask = np.broadcast_to(mask, lbl.shape)
        lbl[mask] = label
        img = self.img[r0:r1, c0:c1]
        img[mask] = colour if colour.ndim == 1 else colour[mask]

    def blend(self, box, mask, label, colour, alpha):
        """Paint ``colour`` with opacity ``alpha`` (see-through fences, wheels) and set the label."""
        r0, r1, c0, c1 = box
        lbl = self.lbl[r0:r1, c0:c1]
        if mask.shape != lbl.shape:
            mask = np.broadcast_to(mask, lbl.shape)
        lbl[mask] = label
        img = self.img[r0:r1, c0:c1]
        img[mask] = img[mask] * np.float32(1 - alpha) + colour * np.float32(alpha)


def _unit(x):
    """Clip to [0, 1] (``np.clip`` costs ~10 µs per call on small arrays in numpy 1.23)."""
    return np.minimum(np.maximum(x, np.float32(0)), np.float32(1))


def _rect(A, B, a0, a1, b0, b1):
    return (A >= a0) & (A <= a1) & (B >= b0) & (B <= b1)


def _ellipse(A, B, ca, cb, ra, rb):
    return ((A - ca) / ra) ** 2 + ((B - cb) / rb) ** 2 <= 1.0


def _capsule(A, B, p, q, r):
    """Points within ``r`` of the segment p–q."""
    px, py = p
    ex, ey = q[0] - px, q[1] - py
    l2 = ex * ex + ey * ey + 1e-12
    t = _unit(((A - px) * ex + (B - py) * ey) / l2)
    return (A - px - t * ex) ** 2 + (B - py - t * ey) ** 2 <= r * r


# -- scene layout ------------------------------------------------------------------------------------


class _Layout:
    """The random street: road, sidewalks, facades, and the sun (all in metres)."""

    def __init__(self, rng: np.random.Generator):
        self.road_l = float(rng.uniform(2.0, 7.0))     # road spans X in [-road_l, road_r]
        self.road_r = float(rng.uniform(1.8, 6.0))
        self.walk = [float(rng.uniform(1.5, 4.5)), float(rng.uniform(1.5, 4.5))]   # left, right
        self.park = [bool(rng.random() < 0.2), bool(rng.random() < 0.2)]
        if self.park[0] and self.park[1]:
            self.park[int(rng.integers(2))] = False
        self.setback = [float(rng.uniform(0, 2.5)) if not p else float(rng.uniform(15, 45)) for p in self.park]
        self.z_end = float(rng.uniform(45, 160)) if rng.random() < 0.45 else 1e4
        self.sun = float(rng.uniform(-1, 1))          # > 0: light from the left
        self.shadow = float(rng.uniform(0, 1)) if rng.random() < 0.5 else 0.0

    def edge(self, side):         # road edge, side 0 left (negative X), 1 right
        return -self.road_l if side == 0 else self.road_r

    def walk_out(self, side):     # outer edge of the sidewalk
        return -(self.road_l + self.walk[0]) if side == 0 else self.road_r + self.walk[1]

    def facade(self, side):
        return (-(self.road_l + self.walk[0] + self.setback[0]) if side == 0
                else self.road_r + self.walk[1] + self.setback[1])


def _draw_sky(cv: _Canvas, rng):
    H, W = cv.H, cv.W
    t = np.clip(-cv.dy / max(cv.v_h, 1e-3), 0, 1)[:, None, None]   # 0 at the horizon, 1 at the top
    if rng.random() < 0.45:   # clear
        top = np.array([rng.uniform(0.2, 0.4), rng.uniform(0.4, 0.6), rng.uniform(0.75, 0.95)], np.float32)
        low = np.array([0.75, 0.82, 0.9], np.float32) * np.float32(rng.uniform(0.9, 1.05))
        cloud = 0.25
    else:                      # overcast, as in most of CamVid
        g = rng.uniform(0.7, 0.95)
        top = np.array([g - 0.05, g - 0.02, g + 0.03], np.float32)
        low = np.array([g + 0.03, g + 0.03, g + 0.04], np.float32)
        cloud = 0.08
    sky = low * (1 - t) + top * t
    clouds = np.clip(_smooth_noise(rng, H, W, 4, 6) * 0.6 + 0.2, 0, 1)[:, :, None] * np.float32(cloud)
    cv.img[:] = np.clip(sky + clouds, 0, 1)
    cv.lbl[:] = SKY


def _draw_ground(cv: _Canvas, lay: _Layout, rng):
    rows = np.nonzero(cv.dy > 0)[0]
    if rows.size == 0:
        return
    r0 = int(rows[0])
    dy = cv.dy[r0:]
    Z = (cv.f * cv.cam_h / dy)[:, None]                      # depth of the ground at each row
    X = cv.dx[None, :] * Z / cv.f
    road = (X >= -lay.road_l) & (X <= lay.road_r)
    lbl = np.where(road, ROAD, SIDEWALK).astype(np.uint8)
    grey = rng.uniform(0.25, 0.45)
    road_c = np.array([grey, grey, grey * rng.uniform(1.0, 1.08)], np.float32)
    tone = rng.uniform(0.45, 0.7)
    walk_c = (np.array([tone, tone * 0.95, tone * 0.9], np.float32) if rng.random() < 0.7
              else np.array([tone, tone * 0.7, tone * 0.6], np.float32))       # red pavers
    img = np.where(road[:, :, None], road_c, walk_c)
    # Paving joints on the sidewalk, curb stones along the road edges.
    joints = ((X * 2.0) % 1.0 < 0.06) | ((Z * 2.0) % 1.0 < 0.06)
    img = np.where((joints & ~road)[:, :, None], walk_c * 0.8, img)
    curb = ((np.abs(X + lay.road_l) < 0.2) | (np.abs(X - lay.road_r) < 0.2)) & ~road
    img = np.where(curb[:, :, None], np.float32(min(tone + 0.15, 0.9)), img)
    # Lane markings (road class, as CamVid merges them into road).
    white = np.array([0.88, 0.88, 0.85], np.float32)
    mark = np.zeros_like(road)
    width = lay.road_l + lay.road_r
    nlanes = max(1, int(round(width / 3.3)))
    dash = rng.uniform(3, 8)
    for k in range(1, nlanes):
        m = -lay.road_l + width * k / nlanes
        mark |= (np.abs(X - m) < 0.08) & ((Z / dash) % 1.0 < 0.45)
    if rng.random() < 0.5:
        mark |= (np.abs(X + lay.road_l - 0.3) < 0.07) | (np.abs(X - lay.road_r + 0.3) < 0.07)
    if rng.random() < 0.25:   # zebra crossing
        zc = rng.uniform(8, 30)
        mark |= (Z > zc) & (Z < zc + 3.5) & ((X / 0.6) % 1.0 < 0.5)
    mark &= road
    img = np.where(mark[:, :, None], white * np.float32(rng.uniform(0.8, 1.0)), img)
    # Grass beyond the sidewalk on a park side (vegetation belongs to CamVid's tree class).
    for side in (0, 1):
        if lay.park[side]:
            beyond = (X < lay.walk_out(0)) if side == 0 else (X > lay.walk_out(1))
            lbl[beyond] = TREE
            green = np.array([rng.uniform(0.2, 0.35), rng.uniform(0.35, 0.5), rng.uniform(0.1, 0.2)],
                             np.float32)
            img = np.where(beyond[:, :, None], green, img)
    # A cast shadow of the buildings on the side the sun comes from.
    if lay.shadow > 0:
        side_x = -lay.road_l if lay.sun > 0 else lay.road_r
        reach = lay.shadow * (width * 0.8)
        shade = (X < side_x + reach) if side_x < 0 else (X > side_x - reach)
        img = np.where(shade[:, :, None], img * np.float32(rng.uniform(0.55, 0.75)), img)
    cv.img[r0:] = img
    cv.lbl[r0:] = lbl


def _facade_colour(rng, n):
    idx = rng.integers(0, len(_BUILDING_COLOURS), n)
    return np.clip(_BUILDING_COLOURS[idx] * rng.uniform(0.85, 1.15, (n, 1)).astype(np.float32), 0, 1)


def _draw_facades(cv: _Canvas, lay: _Layout, rng):
    H = cv.H
    for side in (0, 1):
        Xf = lay.facade(side)
        cols = np.nonzero(cv.dx < 0)[0] if side == 0 else np.nonzero(cv.dx > 0)[0]
        if cols.size == 0:
            continue
        c0, c1 = int(cols[0]), int(cols[-1]) + 1
        # Buildings along the street: segments in Z with their own height, colour and windows.
        nseg = 40
        lengths = rng.uniform(8, 30, nseg)
        bounds = np.cumsum(lengths) - rng.uniform(0, 20)
        park = lay.park[side]
        heights = rng.uniform(5, 14, nseg) if park else rng.uniform(6, 26, nseg)
        heights[rng.random(nseg) < (0.08 if not park else 0.3)] = 0.0        # gaps between buildings
        colours = _facade_colour(rng, nseg)
        floor_h = rng.uniform(2.8, 3.6, nseg)
        win_sp = rng.uniform(1.8, 3.5, nseg)
        win_w = rng.uniform(0.3, 0.6, nseg)
        glass = np.clip(_GLASS + rng.uniform(0, 0.25, (nseg, 1)).astype(np.float32), 0, 1)
        shade = np.float32(1.0 + 0.2 * lay.sun * (1 if side == 1 else -1))
        Z, Y = cv.side_plane((0, H, c0, c1), Xf)
        Zs = np.nan_to_num(Z, nan=1e9)
        seg = np.clip(np.searchsorted(bounds, Zs), 0, nseg - 1)        # (1, w)
        h = heights[seg]
        mask = (Y >= 0) & (Y <= h) & (Zs < min(lay.z_end, 2000.0)) & (Zs > 0.5)
        if not mask.any():
            continue
        start = np.where(seg > 0, bounds[np.maximum(seg - 1, 0)], bounds[0] - lengths[0])
        lz = (Zs - start) / win_sp[seg]
        lz_frac = lz % 1.0
        fl = Y / floor_h[seg]
        windows = ((lz_frac > 0.5 - win_w[seg] / 2) & (lz_frac < 0.5 + win_w[seg] / 2)
                   & (fl % 1.0 > 0.3) & (fl % 1.0 < 0.78) & (fl > 1.0) & (Y < h - 0.6))
        shop = (fl < 1.0) & (Y > 0.3) & (Y < 2.5) & (lz_frac < 0.75)
        img = np.where(windows[:, :, None] | shop[:, :, None], glass[seg], colours[seg] * shade)
        box = (0, H, c0, c1)
        cv.paint(box, mask, BUILDING, img)
    # A building closing the street at Z = z_end.
    if lay.z_end < 1e3:
        Z = lay.z_end
        Hend = rng.uniform(8, 25)
        box = cv.bbox([lay.facade(0), lay.facade(1)], [0.0, Hend], [Z])
        if box is not None:
            X, Y = cv.rear_plane(box, Z)
            mask = (X >= lay.facade(0)) & (X <= lay.facade(1)) & (Y >= 0) & (Y <= Hend)
            col = _facade_colour(rng, 1)[0]
            sp = rng.uniform(2, 3.5)
            fl = Y / rng.uniform(2.8, 3.5)
            win = ((X / sp) % 1.0 < 0.45) & (fl % 1.0 > 0.3) & (fl % 1.0 < 0.75) & (fl > 1) & (Y < Hend - 0.5)
            cv.paint(box, mask, BUILDING, np.where(win[:, :, None], _GLASS * 1.3, col))


# -- objects ------------------------------------------------------------------------------------------


def _car(cv: _Canvas, rng, xc, z0, oncoming=False):
    L = rng.uniform(3.8, 4.8)
    w = rng.uniform(1.65, 1.9)
    van = rng.random() < 0.15
    hb = rng.uniform(0.8, 1.0) if not van else rng.uniform(1.0, 1.3)
    hc = rng.uniform(1.35, 1.6) if not van else rng.uniform(1.9, 2.4)
    x0, x1 = xc - w / 2, xc + w / 2
    box = cv.bbox([x0, x1], [0.0, hc], [z0, z0 + L])
    if box is None:
        return
    col = _CAR_COLOURS[rng.integers(len(_CAR_COLOURS))] * np.float32(rng.uniform(0.9, 1.1))
    col = _unit(col)
    glass = _unit(_GLASS + np.float32(rng.uniform(0, 0.2)))
    dark = np.array([0.06, 0.06, 0.07], np.float32)
    side_shade = 0.75
    cz0, cz1 = (z0 + 0.2 * L, z0 + 0.72 * L) if not van else (z0 + 0.02 * L, z0 + 0.9 * L)
    cx0, cx1 = x0 + 0.1, x1 - 0.1
    # Side faces (visible when the car is off-axis), far to near.
    xs = x0 if x0 > 0 else (x1 if x1 < 0 else None)
    if xs is not None:
        Z, Y = cv.side_plane(box, xs)
        body = (Z >= z0) & (Z <= z0 + L) & (Y >= 0) & (Y <= hb)
        cv.paint(box, body, CAR, col * np.float32(side_shade))
        wheels = ((Z - (z0 + 0.18 * L)) ** 2 + (Y - 0.32) ** 2 <= 0.1) | ((Z - (z0 + 0.82 * L)) ** 2 + (Y - 0.32) ** 2 <= 0.1)
        cv.paint(box, wheels & (Y >= 0), CAR, dark)
        csx = cx0 if xs == x0 else cx1
        Z, Y = cv.side_plane(box, csx)
        cab = (Z >= cz0) & (Z <= cz1) & (Y >= hb) & (Y <= hc)
        win = cab & (Y >= hb + 0.08) & (Y <= hc - 0.08) & (Z > cz0 + 0.1) & (Z < cz1 - 0.1) & (np.abs(Z - (cz0 + cz1) / 2) > 0.06)
        cv.paint(box, cab, CAR, col * np.float32(side_shade))
        cv.paint(box, win, CAR, glass * 0.8)
    if hc < cv.cam_h:   # roof
        X, Z = cv.top_plane(box, hc)
        cv.paint(box, (X >= cx0) & (X <= cx1) & (Z >= cz0) & (Z <= cz1), CAR, _unit(col * 1.1))
    if hb < cv.cam_h:   # bonnet / boot
        X, Z = cv.top_plane(box, hb)
        cv.paint(box, (X >= x0) & (X <= x1) & (Z >= z0) & (Z <= z0 + L), CAR, _unit(col * 1.05))
    # Cabin rear (or front) face with its window.
    X, Y = cv.rear_plane(box, cz0)
    cab = (X >= cx0) & (X <= cx1) & (Y >= hb) & (Y <= hc)
    cv.paint(box, cab, CAR, col * np.float32(0.9))
    cv.paint(box, cab & (X >= cx0 + 0.08) & (X <= cx1 - 0.08) & (Y >= hb + 0.06) & (Y <= hc - 0.07), CAR, glass)
    # Body rear (or front) face: lights, plate, bumper shadow and wheels.
    X, Y = cv.rear_plane(box, z0)
    body = (X >= x0) & (X <= x1) & (Y >= 0) & (Y <= hb)
    cv.paint(box, body, CAR, col * np.float32(0.92))
    light = np.array([0.95, 0.95, 0.8], np.float32) if oncoming else np.array([0.8, 0.1, 0.08], np.float32)
    lights = body & (Y >= hb - 0.28) & (Y <= hb - 0.08) & ((X <= x0 + 0.35) | (X >= x1 - 0.35))
    cv.paint(box, lights, CAR, light)
    cv.paint(box, body & (np.abs(X - xc) <= 0.26) & (Y >= 0.32) & (Y <= 0.45), CAR,
             np.array([0.9, 0.9, 0.85], np.float32))
    cv.paint(box, body & (Y <= 0.22), CAR, dark * 1.5)


def _pedestrian(cv: _Canvas, rng, X, Z):
    h = rng.uniform(1.5, 1.95)
    box = cv.bbox([X - 0.45 * h, X + 0.45 * h], [0.0, h], [Z])
    if box is None:
        return
    A, B = cv.billboard(box, X, Z)
    m = cv.px_m(Z) * 0.5
    top = _CLOTHES[rng.integers(len(_CLOTHES))]
    legs = _CLOTHES[rng.integers(len(_CLOTHES))]
    skin = _SKIN[rng.integers(len(_SKIN))]
    hair = np.array([0.1, 0.08, 0.05], np.float32) * np.float32(rng.uniform(0.8, 4))
    side = rng.random() < 0.5
    stride = rng.uniform(0.0, 0.2) * h if side else rng.uniform(0, 0.05) * h
    hip = 0.48 * h
    for s in (-1, 1):
        foot = (s * (0.06 * h + stride) if side else s * (0.07 * h + stride), 0.02 * h)
        cv.paint(box, _capsule(A, B, (s * 0.04 * h * (not side), hip), foot, max(0.045 * h, m)), PEDESTRIAN, legs)
    width = 0.08 * h if side else 0.11 * h
    cv.paint(box, _capsule(A, B, (0, hip + 0.06 * h), (0, 0.76 * h), max(width, m)), PEDESTRIAN, top)
    swing = rng.uniform(-0.12, 0.12) * h
    for s in ((-1, 1) if not side else (0,)):
        sh = (s * 0.12 * h, 0.8 * h)
        hand = (s * 0.15 * h + (swing if side else 0), 0.5 * h)
        cv.paint(box, _capsule(A, B, sh, hand, max(0.032 * h, m)), PEDESTRIAN, top * np.float32(0.85))
    cv.paint(box, _ellipse(A, B, 0, 0.905 * h, max(0.06 * h, m), max(0.07 * h, m)), PEDESTRIAN, skin)
    cv.paint(box, _ellipse(A, B, 0, 0.94 * h, max(0.062 * h, m), max(0.045 * h, m)), PEDESTRIAN, hair)
    if rng.random() < 0.25:   # a bag
        cv.paint(box, _rect(A, B, 0.1 * h, 0.22 * h, 0.45 * h, 0.62 * h), PEDESTRIAN,
                 _CLOTHES[rng.integers(len(_CLOTHES))])


def _bicyclist(cv: _Canvas, rng, X, Z):
    box = cv.bbox([X - 1.0, X + 1.0], [0.0, 1.85], [Z])
    if box is None:
        return
    A, B = cv.billboard(box, X, Z)
    m = cv.px_m(Z) * 0.5
    frame = _CAR_COLOURS[rng.integers(len(_CAR_COLOURS))]
    top = _CLOTHES[rng.integers(len(_CLOTHES))]
    legs = _CLOTHES[rng.integers(len(_CLOTHES))]
    skin = _SKIN[rng.integers(len(_SKIN))]
    dark = np.array([0.05, 0.05, 0.05], np.float32)
    if rng.random() < 0.6:        # side view
        s = 1 if rng.random() < 0.5 else -1
        A = A * s
        r = 0.34
        for cx in (-0.52, 0.52):
            d2 = (A - cx) ** 2 + (B - r) ** 2
            disk = d2 <= r * r
            cv.blend(box, disk, BICYCLIST, dark, 0.35)                  # spokes: see-through
            cv.paint(box, disk & (d2 >= (r - max(0.06, m * 2)) ** 2), BICYCLIST, dark)
        seat, crank, head_tube = (-0.2, 0.9), (0.0, 0.35), (0.42, 0.95)
        for p, q in (((-0.52, r), seat), (seat, crank), (crank, (-0.52, r)), (seat, head_tube),
                     (head_tube, (0.52, r)), (crank, head_tube)):
            cv.paint(box, _capsule(A, B, p, q, max(0.03, m)), BICYCLIST, frame)
        knee = (0.12, 0.72)
        cv.paint(box, _capsule(A, B, (-0.18, 1.0), knee, max(0.07, m)), BICYCLIST, legs)
        cv.paint(box, _capsule(A, B, knee, (0.02, 0.3), max(0.055, m)), BICYCLIST, legs)
        cv.paint(box, _capsule(A, B, (-0.18, 1.0), (0.18, 1.45), max(0.12, m)), BICYCLIST, top)
        cv.paint(box, _capsule(A, B, (0.18, 1.45), (0.42, 1.02), max(0.04, m)), BICYCLIST, top * np.float32(0.85))
        cv.paint(box, _ellipse(A, B, 0.27, 1.62, max(0.1, m), max(0.11, m)), BICYCLIST, skin)
        if rng.random() < 0.5:
            cv.paint(box, _ellipse(A, B, 0.25, 1.68, max(0.12, m), max(0.07, m)), BICYCLIST,
                     _CAR_COLOURS[rng.integers(len(_CAR_COLOURS))])
    else:                          # seen from behind (or in front): narrow wheel, wide rider
        cv.paint(box, _rect(A, B, -max(0.04, m), max(0.04, m), 0.0, 0.68), BICYCLIST, dark)
        cv.paint(box, _capsule(A, B, (-0.3, 1.05), (0.3, 1.05), max(0.025, m)), BICYCLIST, dark)
        for s in (-1, 1):
            cv.paint(box, _capsule(A, B, (s * 0.1, 0.95), (s * 0.08, 0.35), max(0.06, m)), BICYCLIST, legs)
            cv.paint(box, _capsule(A, B, (s * 0.17, 1.4), (s * 0.3, 1.06), max(0.04, m)), BICYCLIST, top)
        cv.paint(box, _capsule(A, B, (0, 0.98), (0, 1.4), max(0.17, m)), BICYCLIST, top)
        cv.paint(box, _ellipse(A, B, 0, 1.6, max(0.1, m), max(0.11, m)), BICYCLIST, skin * np.float32(0.6))


def _pole(cv: _Canvas, rng, X, Z, toward_road, with_sign=None):
    kind = rng.choice(["light", "plain", "traffic"], p=[0.45, 0.35, 0.2])
    h = {"light": rng.uniform(5, 8), "plain": rng.uniform(2.5, 4), "traffic": rng.uniform(3, 4.2)}[kind]
    r = rng.uniform(0.06, 0.12)
    arm = rng.uniform(1.0, 2.5) if kind == "light" else 0.0
    box = cv.bbox([X - 1.0 - arm, X + 1.0 + arm], [0.0, h + 0.5], [Z])
    if box is None:
        return
    A, B = cv.billboard(box, X, Z)
    m = cv.px_m(Z) * 0.55
    col = np.array([0.3, 0.3, 0.32], np.float32) * np.float32(rng.uniform(0.6, 2.2))
    cv.paint(box, _rect(A, B, -max(r, m), max(r, m), 0, h), POLE, _unit(col))
    if kind == "light":
        tip = (toward_road * arm, h + 0.2)
        cv.paint(box, _capsule(A, B, (0, h), tip, max(0.05, m)), POLE, _unit(col))
        cv.paint(box, _ellipse(A, B, tip[0], tip[1] - 0.1, max(0.3, m), max(0.1, m)), POLE,
                 np.array([0.55, 0.55, 0.5], np.float32))
    if kind == "traffic":
        cy = h - 0.1
        cv.paint(box, _rect(A, B, -0.17, 0.17, cy - 0.95, cy), SIGN, np.array([0.1, 0.1, 0.08], np.float32))
        on = int(rng.integers(3))
        lamp = (np.array([0.9, 0.15, 0.1]), np.array([0.95, 0.7, 0.1]), np.array([0.2, 0.85, 0.3]))
        for k in range(3):
            c = lamp[k].astype(np.float32) * np.float32(1.0 if k == on else 0.3)
            cv.paint(box, _ellipse(A, B, 0, cy - 0.17 - 0.3 * k, max(0.1, m), max(0.1, m)), SIGN, c)
    if with_sign or (with_sign is None and kind == "plain"):
        _sign(cv, rng, box, A, B, m, rng.uniform(min(h - 0.4, 2.2), h))


def _sign(cv: _Canvas, rng, box, A, B, m, y):
    kind = int(rng.integers(5))
    red = np.array([0.8, 0.1, 0.1], np.float32)
    white = np.array([0.92, 0.92, 0.9], np.float32)
    blue = np.array([0.1, 0.25, 0.7], np.float32)
    s = rng.uniform(0.3, 0.45)
    s = max(s, m)
    if kind == 0:      # prohibition: red ring, white inside
        cv.paint(box, _ellipse(A, B, 0, y, s, s), SIGN, red)
        cv.paint(box, _ellipse(A, B, 0, y, s * 0.72, s * 0.72), SIGN, white)
    elif kind == 1:    # mandatory: blue disk
        cv.paint(box, _ellipse(A, B, 0, y, s, s), SIGN, blue)
        cv.paint(box, _rect(A, B, -s * 0.5, s * 0.5, y - 0.08 * s, y + 0.08 * s), SIGN, white)
    elif kind == 2:    # warning triangle
        tri = (B >= y - s) & (B <= y + s) & (np.abs(A) <= (y + s - B) * 0.58)
        cv.paint(box, tri, SIGN, red)
        inner = (B >= y - 0.6 * s) & (np.abs(A) <= (y + 0.45 * s - B) * 0.58)
        cv.paint(box, inner & tri, SIGN, white)
    elif kind == 3:    # information rectangle
        col = (blue, np.array([0.1, 0.45, 0.2], np.float32), white, np.array([0.95, 0.8, 0.1], np.float32))[
            int(rng.integers(4))]
        cv.paint(box, _rect(A, B, -1.3 * s, 1.3 * s, y - 0.8 * s, y + 0.8 * s), SIGN, col)
    else:              # stop-like octagon, approximated by a clipped square
        octo = (np.abs(A) <= s) & (np.abs(B - y) <= s) & (np.abs(A) + np.abs(B - y) <= 1.42 * s)
        cv.paint(box, octo, SIGN, red)


def _tree(cv: _Canvas, rng, X, Z):
    h = rng.uniform(4, 10)
    rc = rng.uniform(0.25, 0.45) * h
    box = cv.bbox([X - 1.6 * rc, X + 1.6 * rc], [0.0, h + rc], [Z])
    if box is None:
        return
    A, B = cv.billboard(box, X, Z)
    m = cv.px_m(Z) * 0.5
    trunk = np.array([0.3, 0.22, 0.15], np.float32) * np.float32(rng.uniform(0.7, 1.3))
    cv.paint(box, _capsule(A, B, (0, 0), (0, h - rc * 0.5), max(rng.uniform(0.1, 0.2), m)), TREE, trunk)
    autumn = rng.random() < 0.15
    base = (np.array([0.55, 0.45, 0.12], np.float32) if autumn
            else np.array([rng.uniform(0.12, 0.3), rng.uniform(0.3, 0.5), rng.uniform(0.08, 0.2)], np.float32))
    for _ in range(int(rng.integers(4, 8))):
        ca = rng.normal(0, 0.5) * rc
        cb = h - rc * 0.2 + rng.normal(0, 0.35) * rc
        ra = rng.uniform(0.45, 0.8) * rc
        cv.paint(box, _ellipse(A, B, ca, cb, ra, ra * rng.uniform(0.7, 1.0)), TREE,
                 _unit(base * np.float32(rng.uniform(0.7, 1.25))))


def _fence(cv: _Canvas, rng, Xf, z0, z1):
    hgt = rng.uniform(0.9, 1.8)
    box = cv.bbox([Xf], [0.0, hgt], [z0, z1])
    if box is None:
        return
    Z, Y = cv.side_plane(box, Xf)
    inside = (Z >= z0) & (Z <= z1) & (Y >= 0) & (Y <= hgt)
    col = (np.array([0.35, 0.36, 0.38], np.float32) if rng.random() < 0.5
           else np.array([0.45, 0.32, 0.2], np.float32)) * np.float32(rng.uniform(0.7, 1.5))
    col = _unit(col)
    post_sp = rng.uniform(1.5, 3.0)
    posts = ((Z - z0) / post_sp) % 1.0 < 0.06
    rails = (Y >= hgt - 0.1) | ((Y >= 0.15) & (Y <= 0.25))
    cv.blend(box, inside, FENCE, col, rng.uniform(0.4, 0.85))       # mesh or slats: partly see-through
    cv.paint(box, inside & (posts | rails), FENCE, col)


def _clutter(cv: _Canvas, rng, X, Z):
    """Unlabelled objects (bins, boxes, kiosks): void, as CamVid's unlabelled clutter."""
    w = rng.uniform(0.4, 1.5)
    h = rng.uniform(0.5, 1.6)
    box = cv.bbox([X - w / 2, X + w / 2], [0.0, h], [Z])
    if box is None:
        return
    A, B = cv.billboard(box, X, Z)
    cv.paint(box, _rect(A, B, -w / 2, w / 2, 0, h), VOID, rng.uniform(0.1, 0.8, 3).astype(np.float32))


_AT_DEPTH = object()   # placeholder for the depth argument of a deferred draw call


def _depth(rng, near=4.0, far=80.0):
    return float(np.exp(rng.uniform(np.log(near), np.log(far))))


def _objects(cv: _Canvas, lay: _Layout, rng):
    """Place every object; returns (layer, depth, callable) to draw far to near."""
    items = []
    zmax = min(lay.z_end - 2.0, 120.0)

    def add(layer, z, fn, *args):
        if 1.0 < z < zmax:
            items.append((layer, -z, len(items), fn, args))

    width = lay.road_l + lay.road_r
    nl = max(1, int(round(width / 3.3)))
    lanes = [-lay.road_l + width * (k + 0.5) / nl for k in range(nl)]
    # Moving cars; lanes left of the camera carry oncoming traffic on wide roads.
    for _ in range(int(rng.poisson(3.0))):
        x = lanes[int(rng.integers(nl))] + rng.normal(0, 0.25)
        add(2, _depth(rng, 6, 90), _car, cv, rng.child(), x, _AT_DEPTH, x < -1.8 and nl > 1)
    # Parked cars along one or both curbs.
    for side in (0, 1):
        if rng.random() < 0.55:
            z = rng.uniform(3, 15)
            while z < 60:
                if rng.random() < 0.8:
                    x = lay.edge(side) + (1.1 if side == 0 else -1.1)
                    add(2, z, _car, cv, rng.child(), x, _AT_DEPTH, False)
                z += rng.uniform(5.0, 9.0)
    # Pedestrians on the sidewalks, sometimes crossing.
    for _ in range(int(rng.poisson(3.0))):
        side = int(rng.integers(2))
        x = lay.edge(side) + (lay.walk_out(side) - lay.edge(side)) * rng.uniform(0.2, 0.9)
        if rng.random() < 0.15:
            x = rng.uniform(-lay.road_l, lay.road_r)
        add(2, _depth(rng, 4, 50), _pedestrian, cv, rng.child(), x, _AT_DEPTH)
    # Bicyclists near the curb, in most images.
    nb = int(rng.random() < 0.8) + int(rng.random() < 0.25)
    for _ in range(nb):
        side = int(rng.integers(2))
        x = lay.edge(side) + (0.9 if side == 0 else -0.9) + rng.normal(0, 0.3)
        add(2, _depth(rng, 5, 40), _bicyclist, cv, rng.child(), x, _AT_DEPTH)
    # Poles (street lights, traffic lights, sign posts) near the curb at regular spacing.
    for side in (0, 1):
        sp = rng.uniform(12, 30)
        z = rng.uniform(3, sp)
        x = lay.edge(side) + (-0.5 if side == 0 else 0.5)
        toward = 1 if side == 0 else -1
        while z < 100:
            add(2, z, _pole, cv, rng.child(), x, _AT_DEPTH, toward, None)
            z += sp * rng.uniform(0.8, 1.2)
    for _ in range(int(rng.integers(1, 3))):       # free-standing sign posts
        side = int(rng.integers(2))
        x = lay.edge(side) + (-0.4 if side == 0 else 0.4)
        add(2, _depth(rng, 5, 45), _pole, cv, rng.child(), x, _AT_DEPTH, 1 if side == 0 else -1, True)
    # Trees: along the curb, and many in a park (behind its fence).
    for side in (0, 1):
        if rng.random() < 0.5:
            sp = rng.uniform(8, 20)
            z = rng.uniform(3, sp)
            x = lay.edge(side) + (-0.9 if side == 0 else 0.9)
            while z < 100:
                add(2, z, _tree, cv, rng.child(), x, _AT_DEPTH)
                z += sp * rng.uniform(0.7, 1.3)
        if lay.park[side]:
            for _ in range(int(rng.integers(6, 16))):
                d = rng.uniform(1.5, lay.setback[side] - 2)
                x = lay.walk_out(side) + (-d if side == 0 else d)
                add(0, rng.uniform(3, 110), _tree, cv, rng.child(), x, _AT_DEPTH)
    # Fences at the outer edge of the sidewalk.
    for side in (0, 1):
        p = 0.85 if lay.park[side] else 0.3
        if rng.random() < p:
            z0 = rng.uniform(2, 15)
            z1 = z0 + rng.uniform(10, 80)
            items.append((1, -z0, len(items), _fence, (cv, rng.child(), lay.walk_out(side) * 0.999, z0, min(z1, zmax))))
    # Unlabelled clutter on the sidewalk.
    for _ in range(int(rng.poisson(0.7))):
        side = int(rng.integers(2))
        x = lay.edge(side) + (lay.walk_out(side) - lay.edge(side)) * rng.uniform(0.3, 0.9)
        add(2, _depth(rng, 4, 40), _clutter, cv, rng.child(), x, _AT_DEPTH)
    return items


def render_scene(height: int, width: int, seed: int = 0, index: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Render image ``index`` of the stream ``seed``: ``(image uint8 H×W×3, labels uint8 H×W)``."""
    s_layout, s_objects, s_finish, s_pixels = (
        int(v) for v in np.random.SeedSequence([int(seed), int(index)]).generate_state(4, np.uint64))
    rng = _Rng(s_layout)                         # everything that does not depend on the pixel count
    prng = np.random.default_rng(s_pixels)       # per-pixel noise
    H, W = int(height), int(width)
    cv = _Canvas(H, W, rng)
    lay = _Layout(rng)
    _draw_sky(cv, rng)
    _draw_ground(cv, lay, rng)
    _draw_facades(cv, lay, rng)
    items = _objects(cv, lay, _Rng(s_objects))
    items.sort(key=lambda t: (t[0], t[1], t[2]))
    for _layer, negz, _k, fn, args in items:
        args = tuple(-negz if a is _AT_DEPTH else a for a in args)
        fn(*args)
    return _finish(cv, _Rng(s_finish), prng)


def _finish(cv: _Canvas, rng, prng):
    """Texture, lighting, blur, sensor noise and the void band; returns uint8 image and labels."""
    H, W = cv.H, cv.W
    img, lbl = cv.img, cv.lbl
    amp = _TEXTURE[lbl][:, :, None]
    fine = prng.standard_normal((H, W, 1)).astype(np.float32)
    mid = _smooth_noise(rng, H, W, 12, 16)[:, :, None]
    img *= 1 + amp * (fine + 0.7 * mid)
    # Lighting: a gradient across the image, brightness, contrast, gamma and a colour cast.
    theta = rng.uniform(0, 2 * np.pi)
    gy = (np.arange(H, dtype=np.float32) / H - 0.5)[:, None]
    gx = (np.arange(W, dtype=np.float32) / W - 0.5)[None, :]
    img *= (1 + np.float32(rng.uniform(-0.45, 0.45)) * (gx * np.float32(np.cos(theta)) + gy * np.float32(np.sin(theta))))[:, :, None]
    cast = (1 + rng.normal(0, 0.05, 3)).astype(np.float32)
    contrast = np.float32(rng.uniform(0.65, 1.2))
    img = (img - 0.5) * contrast + 0.5 + np.float32(rng.uniform(-0.15, 0.12))
    img = np.clip(img * cast, 0, 1) ** np.float32(rng.uniform(0.75, 1.3))
    if rng.random() < 0.6:   # mild optical blur
        p = np.pad(img, ((1, 1), (1, 1), (0, 0)), mode="edge")
        img = 0.4 * img + 0.15 * (p[:-2, 1:-1] + p[2:, 1:-1] + p[1:-1, :-2] + p[1:-1, 2:])
    img += prng.normal(0, rng.uniform(0.005, 0.03), (H, W, 3)).astype(np.float32)
    # A thin void band along some object outlines (CamVid's annotators left such bands).
    objects = (lbl == POLE) | (lbl == SIGN) | (lbl >= CAR) | (lbl == TREE) | (lbl == FENCE)
    edge = np.zeros((H, W), bool)
    edge[1:] |= lbl[1:] != lbl[:-1]
    edge[:, 1:] |= lbl[:, 1:] != lbl[:, :-1]
    where = _smooth_noise(rng, H, W, 3, 4) > rng.uniform(0.3, 1.5)
    lbl = lbl.copy()
    lbl[edge & objects & where & (lbl != VOID)] = VOID
    return (np.clip(img, 0, 1) * 255 + 0.5).astype(np.uint8), lbl
