"""Faces in a photo: decode it, find the faces, crop each to the 48x48 grey the models expect.

Detection uses the Haar cascade the OpenCV 4 wheels ship: nothing is downloaded, it takes
milliseconds on a CPU, and it finds upright, frontal faces, which is what FER-2013 holds anyway.
OpenCV 5 ships no cascade; :func:`detect` then falls back to the photo's centre square and
says so (``method == "whole"``) rather than failing.
"""

from __future__ import annotations

import functools
import io
import warnings
from dataclasses import dataclass, field
from typing import NamedTuple

import numpy as np
from PIL import Image, ImageDraw, ImageFont, ImageOps, UnidentifiedImageError

from fer_core.core.errors import FerError
from fer_core.core.settings import IMAGE_SIZE

CASCADE_FILE = "haarcascade_frontalface_default.xml"
SMALL_SIDE = 64  # an image this small is taken to be a face crop already (FER-2013 is 48x48)
DETECT_SIDE = 1024  # photos are shrunk to this longest side before detection: faster, as good
MARGIN = 0.15  # FER-2013 crops include a little forehead and chin around the detected box
BLANK_STD = 2.0  # grey levels; an image this flat holds nothing to recognise


class FaceError(FerError):
    """A photo cannot be read, or faces cannot be looked for in it."""


class FaceBox(NamedTuple):
    """A face's bounding box in the photo's pixels: left, top, width, height."""

    x: int
    y: int
    w: int
    h: int


@dataclass(frozen=True)
class FaceResult:
    """The faces of one photo and how they were found: ``method`` is ``"as-is"`` (a face crop
    already), ``"detected"``, ``"whole"`` (no detector: the centre square) or ``"blank"``."""

    grey: np.ndarray
    method: str
    boxes: list[FaceBox] = field(default_factory=list)
    crops: list[np.ndarray] = field(default_factory=list)


# --- input ---------------------------------------------------------------------------------------

def load_photo(data: bytes, *, name: str = "the upload") -> np.ndarray:
    """Decode uploaded or captured bytes to an upright grey image (H, W) uint8: phone photos'
    EXIF rotation is applied, or faces lie on their side and the detector misses them."""
    if not data:
        raise FaceError(f"{name} is empty. Upload a photo (PNG, JPEG, WebP or BMP).")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as img:
                img.load()
                return to_grey(ImageOps.exif_transpose(img))
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise FaceError(
            f"{name} has too many pixels to be read safely; use a smaller photo."
        ) from None
    except UnidentifiedImageError:
        raise FaceError(
            f"{name} is not an image that can be read; upload a PNG, JPEG, WebP or BMP photo."
        ) from None
    except (OSError, SyntaxError, EOFError, ValueError) as err:
        raise FaceError(f"{name} is a damaged or truncated image ({err}).") from None


def to_grey(image: Image.Image | np.ndarray) -> np.ndarray:
    """A PIL image or an array (grey, RGB or RGBA) as a 2-D uint8 grey array."""
    if isinstance(image, Image.Image):
        if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P"
                                                  and "transparency" in image.info):
            rgba = image.convert("RGBA")  # transparent areas become white, as viewers show them
            image = Image.alpha_composite(Image.new("RGBA", rgba.size, "white"), rgba)
        return np.asarray(image.convert("L"), dtype=np.uint8)
    array = np.asarray(image)
    if array.ndim == 3 and array.shape[2] in (3, 4):
        array = np.asarray(Image.fromarray(array[..., :3].astype(np.uint8)).convert("L"))
    elif array.ndim == 3 and array.shape[2] == 1:
        array = array[..., 0]
    if array.ndim != 2:
        raise FaceError(f"image must be a grey (H, W) or colour (H, W, 3) array; got shape "
                        f"{array.shape}.")
    if array.dtype != np.uint8:
        array = np.clip(array, 0, 255).astype(np.uint8)
    return array


# --- detection -----------------------------------------------------------------------------------

@functools.lru_cache(maxsize=1)
def _cascade():
    """The Haar cascade, or ``None`` where this OpenCV has none (the 5.x wheels)."""
    import cv2

    folder = getattr(getattr(cv2, "data", None), "haarcascades", None)
    if not hasattr(cv2, "CascadeClassifier") or not folder:
        return None
    classifier = cv2.CascadeClassifier(folder + CASCADE_FILE)
    return None if classifier.empty() else classifier


def detector_available() -> bool:
    return _cascade() is not None


def find_faces(image: Image.Image | np.ndarray, *, detect_side: int = DETECT_SIDE,
               ) -> list[FaceBox]:
    """Frontal faces in a photo, largest first, in its own pixels. The live camera shrinks
    frames more (``detect_side``), trading faces under ~50 pixels for several times the speed."""
    cascade = _cascade()
    if cascade is None:
        raise FaceError(f"Face detection needs OpenCV's Haar cascade ({CASCADE_FILE}), which this "
                        "OpenCV does not ship. Install opencv-python-headless 4.x.")
    import cv2

    grey = to_grey(image)
    scale = min(1.0, detect_side / max(grey.shape))
    small = grey if scale == 1.0 else cv2.resize(
        grey, (round(grey.shape[1] * scale), round(grey.shape[0] * scale)),
        interpolation=cv2.INTER_AREA)
    small = cv2.equalizeHist(small)  # the cascade was trained on contrast-normalised faces
    min_side = max(24, min(small.shape) // 20)
    found = cascade.detectMultiScale(small, scaleFactor=1.1, minNeighbors=5,
                                     minSize=(min_side, min_side))
    boxes = [FaceBox(*(round(v / scale) for v in box)) for box in np.asarray(found).reshape(-1, 4)]
    return sorted(boxes, key=lambda b: b.w * b.h, reverse=True)


def crop_face(grey: np.ndarray, box: FaceBox, *, margin: float = MARGIN) -> np.ndarray:
    """The box widened by ``margin`` on each side (clipped to the photo), as 48x48 grey."""
    pad_w, pad_h = round(box.w * margin), round(box.h * margin)
    top, left = max(box.y - pad_h, 0), max(box.x - pad_w, 0)
    bottom = min(box.y + box.h + pad_h, grey.shape[0])
    right = min(box.x + box.w + pad_w, grey.shape[1])
    return resize_48(grey[top:bottom, left:right])


def resize_48(grey: np.ndarray) -> np.ndarray:
    """A grey image resized to 48x48 (a copy when it is that size already)."""
    if grey.shape == (IMAGE_SIZE, IMAGE_SIZE):
        return grey.copy()
    img = Image.fromarray(grey)
    return np.asarray(img.resize((IMAGE_SIZE, IMAGE_SIZE), Image.Resampling.BILINEAR,
                                 reducing_gap=3.0), dtype=np.uint8)


def detect(image: Image.Image | np.ndarray, *, whole_if_none: bool = False,
           detect_side: int = DETECT_SIDE) -> FaceResult:
    """Everything the Predict page needs about one photo's faces. ``whole_if_none`` uses the
    centre square when the detector finds nothing: for face crops larger than FER's 48 pixels."""
    grey = to_grey(image)
    if grey.size == 0 or float(grey.std()) < BLANK_STD:
        return FaceResult(grey, "blank")
    if max(grey.shape) <= SMALL_SIDE:
        return FaceResult(grey, "as-is", [FaceBox(0, 0, grey.shape[1], grey.shape[0])],
                          [resize_48(grey)])
    detector = detector_available()
    boxes = find_faces(grey, detect_side=detect_side) if detector else []
    if not boxes and (whole_if_none or not detector):
        side = min(grey.shape)  # the centre square
        box = FaceBox((grey.shape[1] - side) // 2, (grey.shape[0] - side) // 2, side, side)
        return FaceResult(grey, "whole", [box], [crop_face(grey, box, margin=0.0)])
    return FaceResult(grey, "detected", boxes, [crop_face(grey, b) for b in boxes])


def draw_boxes(grey: np.ndarray, boxes: list[FaceBox]) -> np.ndarray:
    """The photo in RGB with each face's box drawn and numbered, to show what was found."""
    img = Image.fromarray(grey).convert("RGB")
    pen = ImageDraw.Draw(img)
    width = max(2, round(max(grey.shape) / 250))
    font = ImageFont.load_default(size=max(12, width * 8))
    for number, box in enumerate(boxes, start=1):
        pen.rectangle([box.x, box.y, box.x + box.w, box.y + box.h], outline="#E69F00",
                      width=width)
        pen.text((box.x + width + 2, box.y + width), str(number), fill="#E69F00", font=font)
    return np.asarray(img)
