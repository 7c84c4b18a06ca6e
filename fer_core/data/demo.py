"""A synthetic demo data set of drawn cartoon faces, as FER-2013 cannot be redistributed.

Each emotion moves the mouth, brows and eyes as the real expression does, and per-image jitter
(pose, lighting, blur, noise, intensity) makes the classes overlap: a three-layer CNN reaches
~80% test accuracy in a few CPU epochs and plateaus near 85%, hard enough that not every model
looks perfect. It is written in Kaggle's layout, so it goes through the same loader as real data.
"""

from __future__ import annotations

import shutil
import time
from dataclasses import dataclass, fields
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

from fer_core.core import settings
from fer_core.core.emotions import EMOTIONS
from fer_core.core.errors import DataError
from fer_core.data.sources import staged_dir

DEMO_NAME = "FER Studio synthetic demo"

# Bump when the drawing changes, so caches made by an older version are not mistaken for it.
DEMO_VERSION = 1
_TEMP_MAX_AGE_S = 3600.0  # a temp dir this old belongs to a crashed generation, not a live one

# FER-2013's training-set class counts: the demo keeps the real imbalance (disgust ~1.5%,
# happy ~25%) so class weighting and per-class metrics have something to show.
_FER2013_TRAIN_COUNTS = {"angry": 3995, "disgust": 436, "fear": 4097, "happy": 7215,
                         "neutral": 4965, "sad": 4830, "surprise": 3171}

_SUPERSAMPLE = 4  # draw at 4x and downscale: antialiased strokes without a drawing library
_SIZE = settings.IMAGE_SIZE


# --- expressions ----------------------------------------------------------------------------------

@dataclass(frozen=True)
class _Expression:
    """Face-part parameters in 48-pixel units; an emotion is a displacement from neutral."""

    eye_open: float  # half-height of the eye opening
    brow_raise: float  # brows above their resting height (negative: lowered)
    brow_slant: float  # inner brow ends lowered (angry > 0) or raised (sad, fear < 0)
    mouth_width: float  # half-width of the mouth
    mouth_curve: float  # corners up (smile > 0) or down (frown < 0)
    mouth_open: float  # gap between the lips at the centre
    lip_raise: float  # one-sided raise of the upper lip (disgust's sneer)
    wrinkle: float  # nose wrinkles, 0..1


_EXPRESSIONS: dict[str, _Expression] = {
    "neutral": _Expression(1.6, 0.0, 0.0, 5.5, 0.0, 0.0, 0.0, 0.0),
    "happy": _Expression(1.2, 0.3, 0.0, 7.0, 3.5, 1.0, 0.0, 0.0),
    "sad": _Expression(1.2, 0.4, -2.0, 5.0, -2.5, 0.0, 0.0, 0.0),
    "angry": _Expression(1.2, -1.5, 2.5, 4.5, -0.8, 0.0, 0.0, 0.3),
    "surprise": _Expression(2.7, 3.0, -0.3, 3.2, 0.0, 5.5, 0.0, 0.0),
    "fear": _Expression(2.5, 2.0, -1.5, 7.0, -1.0, 1.8, 0.0, 0.0),
    "disgust": _Expression(0.9, -1.0, 1.0, 5.5, -1.0, 0.5, 2.5, 1.0),
}
# Per-image spread of each parameter: large enough that neighbouring classes overlap.
_SPREAD = _Expression(0.35, 0.7, 0.6, 0.8, 0.8, 0.5, 0.4, 0.2)
# How strongly a face shows its emotion: weak expressions drift towards neutral, as in real data.
_INTENSITY_RANGE = (0.35, 1.15)
# Pose jitter: a face detector leaves real crops slightly off-centre and tilted. Kept small on
# purpose, as FER-2013's detector-made crops are roughly aligned too; with twice as much, a small
# CNN needs several epochs before it learns anything and a pixel-level linear model drops to ~50%.
_ROTATION_SD = 3.0  # degrees
_SHIFT_SD = 0.8  # pixels at 48x48
_SCALE_RANGE = (0.95, 1.05)
_FACE_HALF_WIDTH = (17.5, 20.0)  # pixels at 48x48; faces in FER crops nearly fill the frame
_STROKE = 1.6  # thickness of brows and lips relative to the face: bold enough to survive blur


def _sample_expression(emotion: str, rng: np.random.Generator) -> _Expression:
    neutral, target = _EXPRESSIONS["neutral"], _EXPRESSIONS[emotion]
    intensity = rng.uniform(*_INTENSITY_RANGE)
    values: dict[str, float] = {}
    for field in fields(_Expression):
        n, t, s = (getattr(e, field.name) for e in (neutral, target, _SPREAD))
        values[field.name] = n + intensity * (t - n) + rng.normal(0.0, s)
    values["eye_open"] = max(values["eye_open"], 0.4)
    values["mouth_width"] = max(values["mouth_width"], 2.5)
    values["mouth_open"] = max(values["mouth_open"], 0.0)
    values["lip_raise"] = max(values["lip_raise"], 0.0)
    values["wrinkle"] = float(np.clip(values["wrinkle"], 0.0, 1.0))
    return _Expression(**values)


# --- drawing --------------------------------------------------------------------------------------

PARTS = ("mouth", "brows", "eyes")  # the face parts whose shape carries the emotion
_MASK_COVERAGE = 0.5  # a 48x48 pixel belongs to a part when the part covers half of it


def draw_face(emotion: str, rng: np.random.Generator) -> np.ndarray:
    """One 48x48 uint8 grey face showing ``emotion``; all randomness comes from ``rng``, which
    is what makes the demo data set byte-for-byte reproducible."""
    return _render(emotion, rng, masks=None)


def draw_face_with_parts(emotion: str, rng: np.random.Generator
                         ) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """:func:`draw_face`'s face, and where its :data:`PARTS` ended up after the pose as
    (48, 48) bool masks: the ground truth an explanation of the emotion should point at."""
    masks = {part: Image.new("L", (_SIZE * _SUPERSAMPLE,) * 2, 0) for part in PARTS}
    face = _render(emotion, rng, masks=masks)
    return face, {part: np.asarray(mask.resize((_SIZE, _SIZE), Image.Resampling.BOX))
                  >= 255 * _MASK_COVERAGE for part, mask in masks.items()}


def _render(emotion: str, rng: np.random.Generator,
            masks: dict[str, Image.Image] | None) -> np.ndarray:
    """The face, each part also painted into ``masks``, which draw no random numbers."""
    if emotion not in _EXPRESSIONS:
        raise DataError(f"emotion must be one of {', '.join(EMOTIONS)}; got {emotion!r}.")
    expr = _sample_expression(emotion, rng)
    big = _draw_cartoon(expr, rng, masks)
    pose = _sample_pose(rng)
    small = _warp(big, pose).resize((_SIZE, _SIZE), Image.Resampling.BOX)
    for part, mask in (masks or {}).items():
        masks[part] = _warp(mask, pose)
    blur = rng.uniform(0.0, 0.9)
    if blur > 0.25:
        small = small.filter(ImageFilter.GaussianBlur(blur))
    return _apply_photometry(np.asarray(small, dtype=np.float32), rng)


def _draw_cartoon(expr: _Expression, rng: np.random.Generator,
                  masks: dict[str, Image.Image] | None = None) -> Image.Image:
    """The face, upright and centred, at ``_SUPERSAMPLE`` times the final size."""
    k = _SUPERSAMPLE
    background = rng.uniform(30, 210)
    skin = rng.uniform(110, 225)
    ink = max(skin - rng.uniform(70, 110), 0.0)  # brows, lids, lips: darker than the skin
    img = Image.new("L", (_SIZE * k, _SIZE * k), int(background))
    draw = ImageDraw.Draw(img)
    pens = {part: ImageDraw.Draw(mask) for part, mask in (masks or {}).items()}

    def px(x: float, y: float) -> tuple[float, float]:
        return (x * k, y * k)

    def ellipse(cx: float, cy: float, rx: float, ry: float, fill: float,
                part: str | None = None) -> None:
        box = [px(cx - rx, cy - ry), px(cx + rx, cy + ry)]
        draw.ellipse(box, fill=int(fill))
        if part in pens:
            pens[part].ellipse(box, fill=255)

    def line(points: list[tuple[float, float]], fill: float, width: float,
             part: str | None = None) -> None:
        scaled, pixels = [px(x, y) for x, y in points], max(1, round(width * k))
        draw.line(scaled, fill=int(fill), width=pixels)
        if part in pens:
            pens[part].line(scaled, fill=255, width=pixels)

    cx, cy = 24.0, 24.5
    fw = rng.uniform(*_FACE_HALF_WIDTH)
    fh = fw * rng.uniform(1.15, 1.3)
    ellipse(cx, cy, fw, fh, skin)
    if rng.random() < 0.7:  # hair: a nuisance region with no bearing on the emotion
        hair = rng.uniform(10, 90) if rng.random() < 0.8 else rng.uniform(150, 230)
        top = cy - fh - rng.uniform(0.5, 3.0)
        bottom = cy - fh + rng.uniform(4.0, 10.0)
        box = [px(cx - fw - 1, top), px(cx + fw + 1, 2 * bottom - top)]
        draw.chord(box, 180, 360, fill=int(hair))
    s = fw / 16.5  # features scale with the face

    # eyes: a light sclera, a dark iris, an upper lid line
    eye_y = cy - 3.0 * s
    eye_rx, eye_ry = 2.9 * s, expr.eye_open * s
    sclera = min(skin + rng.uniform(15, 40), 255.0)
    iris = max(ink - 10, 0.0)
    for side in (-1, 1):
        ex = cx + side * 6.5 * s
        ellipse(ex, eye_y, eye_rx, eye_ry, sclera, "eyes")
        r = min(1.5 * s, eye_ry)
        ellipse(ex + rng.normal(0, 0.3), eye_y, r, r, iris)
        line([(ex - eye_rx, eye_y), (ex, eye_y - eye_ry), (ex + eye_rx, eye_y)], ink, 0.8 * s,
             "eyes")

    # brows: the inner end moves with brow_slant, the outer end a little the other way
    brow_y = eye_y - (4.5 + expr.brow_raise) * s
    for side in (-1, 1):
        inner = (cx + side * 2.5 * s, brow_y + expr.brow_slant * s)
        outer = (cx + side * 10.0 * s, brow_y - 0.35 * expr.brow_slant * s)
        line([inner, outer], ink, 1.5 * _STROKE * s, "brows")

    # nose, with wrinkles across the bridge for disgust (and a little for anger)
    nose_y = cy + 5.0 * s
    line([(cx, eye_y + 1.0 * s), (cx - 1.0 * s, nose_y)], skin - 35, 0.8 * s)
    nostril_y = nose_y - expr.wrinkle * s
    line([(cx - 2.0 * s, nostril_y), (cx + 2.0 * s, nostril_y)], ink, 0.9 * s)
    if expr.wrinkle > 0.3:
        wy = eye_y + 0.5 * s
        for side in (-1, 1):
            line([(cx + side * s, wy), (cx + side * 2.5 * s, wy + 1.2 * s)], ink,
                 0.7 * s * expr.wrinkle)

    _draw_mouth(draw, expr, cx, cy + 11.0 * s, s, ink, rng, pens.get("mouth"))
    return img


def _draw_mouth(draw: ImageDraw.ImageDraw, expr: _Expression, mx: float, my: float, s: float,
                ink: float, rng: np.random.Generator,
                mask: ImageDraw.ImageDraw | None = None) -> None:
    """Lips as parabolas: curve bends the corners, opening separates them, lip_raise sneers."""
    k = _SUPERSAMPLE
    sneer_side = 1 if rng.random() < 0.5 else -1
    t = np.linspace(-1.0, 1.0, 25)
    x = mx + t * expr.mouth_width * s
    upper = my + expr.mouth_curve * s * (0.5 - t**2)
    upper = upper - expr.lip_raise * s * np.clip(sneer_side * t, 0.0, None)
    lower = upper + expr.mouth_open * s * np.sqrt(np.clip(1.0 - t**2, 0.0, None))
    up = [(float(a) * k, float(b) * k) for a, b in zip(x, upper, strict=True)]
    low = [(float(a) * k, float(b) * k) for a, b in zip(x, lower, strict=True)]
    for pen, inside, lips in ((draw, int(max(ink - 25, 0)), int(ink)), (mask, 255, 255)):
        if pen is None:
            continue
        if expr.mouth_open > 0.4:
            pen.polygon(up + low[::-1], fill=inside)
            pen.line(low, fill=lips, width=max(1, round(1.0 * _STROKE * s * k)))
        pen.line(up, fill=lips, width=max(1, round(1.2 * _STROKE * s * k)))


def _sample_pose(rng: np.random.Generator) -> tuple[float, ...]:
    """The inverse affine map (output -> input) that :func:`_warp` applies: a rotation and
    scale about the centre, then a shift."""
    k = _SUPERSAMPLE
    angle = float(np.clip(rng.normal(0.0, _ROTATION_SD), -2.5 * _ROTATION_SD, 2.5 * _ROTATION_SD))
    scale = rng.uniform(*_SCALE_RANGE)
    shift = rng.normal(0.0, _SHIFT_SD, size=2) * k
    size = _SIZE * k
    centre = size / 2
    cos, sin = np.cos(np.radians(angle)) / scale, np.sin(np.radians(angle)) / scale
    a, b, d, e = cos, sin, -sin, cos
    c = centre - a * (centre + shift[0]) - b * (centre + shift[1])
    f = centre - d * (centre + shift[0]) - e * (centre + shift[1])
    return (a, b, c, d, e, f)


def _warp(img: Image.Image, pose: tuple[float, ...]) -> Image.Image:
    """Pose a face (or a part's mask) at the supersampled size; the corner's colour fills in."""
    size = _SIZE * _SUPERSAMPLE
    return img.transform((size, size), Image.Transform.AFFINE, pose,
                         resample=Image.Resampling.BILINEAR, fillcolor=img.getpixel((0, 0)))


def _apply_photometry(pixels: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Lighting gradient, contrast, brightness and sensor noise, then back to uint8."""
    yy, xx = np.mgrid[0:_SIZE, 0:_SIZE].astype(np.float32) / (_SIZE - 1) - 0.5
    direction = rng.uniform(0.0, 2 * np.pi)
    gradient = rng.uniform(0.0, 70.0) * (np.cos(direction) * xx + np.sin(direction) * yy)
    contrast = rng.uniform(0.6, 1.25)
    brightness = rng.normal(0.0, 15.0)
    mean = float(pixels.mean())
    out = (pixels - mean) * contrast + mean + brightness + gradient
    out = out + rng.normal(0.0, rng.uniform(2.0, 9.0), size=out.shape)
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)


# --- data set -------------------------------------------------------------------------------------

def _class_counts(total: int) -> dict[str, int]:
    """Split ``total`` over the classes in FER-2013's proportions, at least one per class."""
    weights = np.array([_FER2013_TRAIN_COUNTS[e] for e in EMOTIONS], dtype=np.float64)
    raw = total * weights / weights.sum()
    counts = np.maximum(np.floor(raw).astype(int), 1)
    while counts.sum() < total:  # largest remainder first: the nearest integer split
        counts[int(np.argmax(raw - counts))] += 1
    while counts.sum() > total:  # only when the one-per-class floor overshot
        counts[int(np.argmax(counts))] -= 1
    return dict(zip(EMOTIONS, (int(c) for c in counts), strict=True))


def _check_int(name: str, value: int, low: int, what: str) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise DataError(f"{name} must be {what}; got {value!r}.")


def _check_seed(seed: int) -> None:
    _check_int("seed", seed, 0, "a non-negative integer")


_README = """\
{name} (version {version}, seed {seed})

THIS DATA IS SYNTHETIC. The images are procedurally drawn cartoon faces, not photographs of
real people. They exist so FER Studio works out of the box; accuracy on them says nothing about
accuracy on real faces. Point FER_DATA_DIR at FER-2013 (Kaggle folders, fer2013.csv or a .zip)
for real results.

Layout: train/<class>/<NNNNN>.png and test/<class>/<NNNNN>.png, 48x48 greyscale, in the
Kaggle FER-2013 folder layout, with FER-2013's class imbalance.
Classes: {classes}
Train images: {train}
Test images: {test}
"""


def generate_demo_dataset(out_dir: Path, *, seed: int = 0, train_size: int = 2800,
                          test_size: int = 700) -> Path:
    """Write the demo into ``out_dir`` (empty or absent, so no other images get mixed in). Each
    image has its own random stream, so one split's size leaves the other's images unchanged."""
    out_dir = Path(out_dir)
    _check_seed(seed)
    for name, size in (("train_size", train_size), ("test_size", test_size)):
        _check_int(name, size, len(EMOTIONS),
                   f"an integer of at least {len(EMOTIONS)} (one image per class)")
    if out_dir.exists() and (not out_dir.is_dir() or any(out_dir.iterdir())):
        raise DataError("out_dir must be an empty or new folder, so the demo is not mixed with "
                        f"other files; got {out_dir}, which exists and is not an empty folder. "
                        "Pick another folder or delete that one.")
    splits = {"train": _class_counts(train_size), "test": _class_counts(test_size)}
    for split_index, (split, counts) in enumerate(splits.items()):
        for class_index, emotion in enumerate(EMOTIONS):
            class_dir = out_dir / split / emotion
            class_dir.mkdir(parents=True, exist_ok=True)
            for i in range(counts[emotion]):
                rng = np.random.default_rng([seed, split_index, class_index, i])
                Image.fromarray(draw_face(emotion, rng)).save(class_dir / f"{i:05d}.png")
    counts_text = {s: ", ".join(f"{e} {n}" for e, n in c.items()) for s, c in splits.items()}
    readme = _README.format(name=DEMO_NAME, version=DEMO_VERSION, seed=seed,
                            classes=", ".join(EMOTIONS), **counts_text)
    (out_dir / "README.txt").write_text(readme, encoding="utf-8")
    return out_dir


def demo_split_with_parts(split: str, *, seed: int = 0, per_class: int = 10
                          ) -> tuple[np.ndarray, np.ndarray, dict[str, np.ndarray]]:
    """The first ``per_class`` images per class of a demo split, as the files hold them, with
    their part masks."""
    split_index = {"train": 0, "test": 1}[split]
    images, labels, masks = [], [], {part: [] for part in PARTS}
    for class_index, emotion in enumerate(EMOTIONS):
        for i in range(per_class):
            rng = np.random.default_rng([seed, split_index, class_index, i])
            face, parts = draw_face_with_parts(emotion, rng)
            images.append(face)
            labels.append(class_index)
            for part in PARTS:
                masks[part].append(parts[part])
    return (np.stack(images), np.array(labels),
            {part: np.stack(found) for part, found in masks.items()})


def demo_dataset_dir(*, seed: int = 0) -> Path:
    """The demo in the cache folder, generated on first use into a temporary folder renamed
    into place: a crash or two app instances at once never leave a half-written data set."""
    _check_seed(seed)
    cache = settings.cache_dir()
    final = cache / f"demo-v{DEMO_VERSION}-seed{seed}"
    if final.is_dir():
        return final
    prefix = f".{final.name}.tmp-"
    _remove_stale_temp_dirs(cache, prefix)
    with staged_dir(final, prefix) as tmp:
        generate_demo_dataset(tmp, seed=seed)
    return final


def _remove_stale_temp_dirs(cache: Path, prefix: str) -> None:
    """Remove temp folders left by crashed generations; young ones may belong to a live one."""
    now = time.time()
    for path in cache.glob(f"{prefix}*"):
        try:
            if path.is_dir() and now - path.stat().st_mtime > _TEMP_MAX_AGE_S:
                shutil.rmtree(path, ignore_errors=True)
        except OSError:
            continue  # another process removed it first
