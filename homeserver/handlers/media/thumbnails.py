"""Thumbnail making with Pillow: pure functions, run in a thread by the repository.

The spec's rules: `scale` keeps the aspect ratio and fits the requested box; `crop` fills the box
and cuts off what sticks out; never upscale; when the image is no bigger than the box, the
original is the answer."""

from __future__ import annotations

import io
import math
import warnings
from dataclasses import dataclass

from PIL import Image, ImageSequence

# Types Pillow decodes and we agree to decode. SVG is never thumbnailed (it is a document, not
# pixels, and rendering it would mean running a renderer on untrusted markup).
THUMBNAILABLE_TYPES = frozenset({
    "image/jpeg", "image/jpg", "image/pjpeg", "image/png", "image/apng", "image/gif", "image/webp",
    "image/bmp", "image/x-ms-bmp", "image/tiff",
})
# Types a thumbnail may have (the spec's list for the thumbnail endpoint's Content-Type).
THUMBNAIL_RESPONSE_TYPES = frozenset({"image/jpeg", "image/png", "image/apng", "image/gif", "image/webp"})
_ANIMATABLE_FORMATS = frozenset({"GIF", "WEBP", "PNG"})
JPEG_QUALITY = 80


class NotThumbnailable(Exception):
    """The content is not an image we can decode."""


class ImageTooLarge(Exception):
    """The image has more pixels than max_image_pixels: refusing to decode it."""


@dataclass(frozen=True)
class ImageInfo:
    width: int
    height: int
    format: str
    animated: bool


@dataclass(frozen=True)
class MadeThumbnail:
    data: bytes
    content_type: str


def base_type(content_type: str | None) -> str:
    return (content_type or "").split(";", 1)[0].strip().lower()


def can_thumbnail(content_type: str | None) -> bool:
    return base_type(content_type) in THUMBNAILABLE_TYPES


def _open(path: str, max_pixels: int) -> Image.Image:
    """Open (which reads only the header) and check the pixel count before anything is decoded."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(path)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise ImageTooLarge() from None
    except (OSError, ValueError, SyntaxError) as e:  # Pillow's UnidentifiedImageError is an OSError
        raise NotThumbnailable(str(e)) from None
    if image.width * image.height > max_pixels or image.width <= 0 or image.height <= 0:
        image.close()
        raise ImageTooLarge()
    return image


def image_info(path: str, max_pixels: int) -> ImageInfo:
    with _open(path, max_pixels) as image:
        return ImageInfo(image.width, image.height, image.format or "",
                         bool(getattr(image, "is_animated", False)))


def target_size(width: int, height: int, box_w: int, box_h: int, method: str) -> tuple[int, int, int, int] | None:
    """(resize_w, resize_h, final_w, final_h) for an image of width x height, or None when the image
    already fits the box (no thumbnail needed: never upscale)."""
    if width <= box_w and height <= box_h:
        return None
    if method == "crop":
        factor = min(1.0, max(box_w / width, box_h / height))
        resize_w, resize_h = max(1, math.ceil(width * factor)), max(1, math.ceil(height * factor))
        return resize_w, resize_h, min(box_w, resize_w), min(box_h, resize_h)
    factor = min(box_w / width, box_h / height)
    resize_w, resize_h = max(1, round(width * factor)), max(1, round(height * factor))
    return resize_w, resize_h, resize_w, resize_h


def _resize(frame: Image.Image, size: tuple[int, int, int, int]) -> Image.Image:
    resize_w, resize_h, final_w, final_h = size
    out = frame.resize((resize_w, resize_h), Image.Resampling.LANCZOS)
    if (final_w, final_h) != (resize_w, resize_h):
        left, top = (resize_w - final_w) // 2, (resize_h - final_h) // 2
        out = out.crop((left, top, left + final_w, top + final_h))
    return out


def make_thumbnail(path: str, content_type: str, box_w: int, box_h: int, method: str, animated: bool,
                   max_pixels: int) -> MadeThumbnail | None:
    """A thumbnail of the image at `path` for the box, or None when the original itself is the
    right answer (it fits the box, is of a type a thumbnail may have, and is not animated unless
    animation was asked for)."""
    with _open(path, max_pixels) as image:
        is_animated = bool(getattr(image, "is_animated", False))
        size = target_size(image.width, image.height, box_w, box_h, method)
        original_ok = base_type(content_type) in THUMBNAIL_RESPONSE_TYPES and (animated or not is_animated)
        if size is None:
            if original_ok:
                return None
            size = (image.width, image.height, image.width, image.height)
        try:
            # Every frame is decoded: the frame count counts against the pixel budget too.
            frames = getattr(image, "n_frames", 1)
            if (animated and is_animated and image.format in _ANIMATABLE_FORMATS
                    and frames * image.width * image.height <= max_pixels):
                return _animated_webp(image, size)
            return _still(image, size)
        except Image.DecompressionBombError:
            raise ImageTooLarge() from None
        except (OSError, ValueError, SyntaxError, EOFError) as e:
            raise NotThumbnailable(str(e)) from None


def _still(image: Image.Image, size: tuple[int, int, int, int]) -> MadeThumbnail:
    image.seek(0)
    keep_jpeg = image.format == "JPEG"
    frame = image.convert("RGB") if keep_jpeg else image.convert("RGBA")
    out = io.BytesIO()
    thumb = _resize(frame, size)
    if keep_jpeg:
        thumb.save(out, "JPEG", quality=JPEG_QUALITY)
        return MadeThumbnail(out.getvalue(), "image/jpeg")
    thumb.save(out, "PNG", optimize=False)
    return MadeThumbnail(out.getvalue(), "image/png")


def _animated_webp(image: Image.Image, size: tuple[int, int, int, int]) -> MadeThumbnail:
    frames, durations = [], []
    for frame in ImageSequence.Iterator(image):
        frames.append(_resize(frame.convert("RGBA"), size))
        durations.append(frame.info.get("duration", 100) or 100)
    out = io.BytesIO()
    frames[0].save(out, "WEBP", save_all=True, append_images=frames[1:], duration=durations,
                   loop=image.info.get("loop", 0), quality=JPEG_QUALITY)
    return MadeThumbnail(out.getvalue(), "image/webp")
