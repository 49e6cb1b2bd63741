"""Thumbnail making with Pillow: pure functions, run on the CPU pool by the repository.

The spec's rules: `scale` keeps the aspect ratio and fits the requested box; `crop` fills the box
and cuts off what sticks out; never upscale; when the image is no bigger than the box, the
original is the answer. Sizes are those of the image as shown, after its EXIF orientation (a
phone's portrait photo is stored landscape with orientation 6).

What an uploader controls, and the guards: Pillow may open only the formats below (not the
dozens it knows, each a parser of its own); the pixel count read from the header is checked
against `max_image_pixels` before anything is decoded (Pillow's own decompression-bomb limit,
`Image.MAX_IMAGE_PIXELS`, is set to the same value as a second line, for what it checks later,
such as frames); JPEGs are decoded at a reduced scale (`Image.draft`) when the thumbnail is
much smaller."""

from __future__ import annotations

import io
import math
import warnings
from dataclasses import dataclass

from PIL import ExifTags, Image, ImageOps, ImageSequence

# Types Pillow decodes and we agree to decode. SVG is never thumbnailed (it is a document, not
# pixels, and rendering it would mean running a renderer on untrusted markup).
THUMBNAILABLE_TYPES = frozenset({
    "image/jpeg", "image/jpg", "image/pjpeg", "image/png", "image/apng", "image/gif", "image/webp",
    "image/bmp", "image/x-ms-bmp", "image/tiff",
})
# Types a thumbnail may have (the spec's list for the thumbnail endpoint's Content-Type).
THUMBNAIL_RESPONSE_TYPES = frozenset({"image/jpeg", "image/png", "image/apng", "image/gif", "image/webp"})
# The Pillow decoders Image.open may use, whatever the upload claims to be (Pillow's JPEG opener
# also gives MPO, the multi-picture JPEG phones write).
PILLOW_FORMATS = ("JPEG", "PNG", "GIF", "WEBP", "BMP", "TIFF")
_ANIMATABLE_FORMATS = frozenset({"GIF", "WEBP", "PNG"})
# EXIF orientations that turn the image by 90 degrees: its width and height swap when shown.
_SIDEWAYS = frozenset({5, 6, 7, 8})
_TRANSPOSE = {
    2: Image.Transpose.FLIP_LEFT_RIGHT, 3: Image.Transpose.ROTATE_180, 4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE, 6: Image.Transpose.ROTATE_270, 7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}

# Our own check refuses images over the limit before decoding; Pillow's warning for those it
# merely finds big would only repeat it (and catching it per call is not thread-safe).
warnings.filterwarnings("ignore", category=Image.DecompressionBombWarning)


def limit_pillow(max_pixels: int) -> None:
    """Pillow's process-wide decompression-bomb limit: it raises DecompressionBombError past twice
    this. Set from `max_image_pixels` when the media repository is built."""
    Image.MAX_IMAGE_PIXELS = max_pixels
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
        image = Image.open(path, formats=PILLOW_FORMATS)
    except Image.DecompressionBombError:
        raise ImageTooLarge() from None
    except (OSError, ValueError, SyntaxError) as e:  # Pillow's UnidentifiedImageError is an OSError
        raise NotThumbnailable(str(e)) from None
    if image.width * image.height > max_pixels or image.width <= 0 or image.height <= 0:
        image.close()
        raise ImageTooLarge()
    return image


def _orientation(image: Image.Image) -> int:
    try:
        value = image.getexif().get(ExifTags.Base.Orientation, 1)
    except (OSError, ValueError, SyntaxError, EOFError):  # a broken EXIF block: shown as stored
        return 1
    return value if isinstance(value, int) and 1 <= value <= 8 else 1


def _shown_size(image: Image.Image, orientation: int) -> tuple[int, int]:
    return (image.height, image.width) if orientation in _SIDEWAYS else (image.width, image.height)


def image_info(path: str, max_pixels: int) -> ImageInfo:
    with _open(path, max_pixels) as image:
        width, height = _shown_size(image, _orientation(image))
        return ImageInfo(width, height, image.format or "", bool(getattr(image, "is_animated", False)))


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
        try:
            is_animated = bool(getattr(image, "is_animated", False))
            orientation = _orientation(image)
            width, height = _shown_size(image, orientation)
            size = target_size(width, height, box_w, box_h, method)
            original_ok = base_type(content_type) in THUMBNAIL_RESPONSE_TYPES and (animated or not is_animated)
            if size is None:
                if original_ok:
                    return None
                size = (width, height, width, height)
            # Every frame is decoded: the frame count counts against the pixel budget too.
            frames = getattr(image, "n_frames", 1)
            if (animated and is_animated and image.format in _ANIMATABLE_FORMATS
                    and frames * image.width * image.height <= max_pixels):
                return _animated_webp(image, size, orientation)
            return _still(image, size, orientation)
        except Image.DecompressionBombError:
            raise ImageTooLarge() from None
        except (OSError, ValueError, SyntaxError, EOFError) as e:
            raise NotThumbnailable(str(e)) from None


def _still(image: Image.Image, size: tuple[int, int, int, int], orientation: int) -> MadeThumbnail:
    image.seek(0)
    keep_jpeg = image.format in ("JPEG", "MPO")
    if keep_jpeg:
        # Let the JPEG decoder scale down by 1/2, 1/4 or 1/8 while decoding, staying at least as
        # big as the thumbnail (the box is in shown orientation, the decoder's in stored).
        resize_w, resize_h = size[0], size[1]
        image.draft("RGB", (resize_h, resize_w) if orientation in _SIDEWAYS else (resize_w, resize_h))
    upright = ImageOps.exif_transpose(image) if orientation != 1 else image
    frame = upright.convert("RGB") if keep_jpeg else upright.convert("RGBA")
    out = io.BytesIO()
    thumb = _resize(frame, size)
    if keep_jpeg:
        thumb.save(out, "JPEG", quality=JPEG_QUALITY)
        return MadeThumbnail(out.getvalue(), "image/jpeg")
    thumb.save(out, "PNG", optimize=False)
    return MadeThumbnail(out.getvalue(), "image/png")


def _animated_webp(image: Image.Image, size: tuple[int, int, int, int], orientation: int) -> MadeThumbnail:
    frames, durations = [], []
    for frame in ImageSequence.Iterator(image):
        rgba = frame.convert("RGBA")
        if orientation != 1:  # as ImageOps.exif_transpose would, frame by frame
            rgba = rgba.transpose(_TRANSPOSE[orientation])
        frames.append(_resize(rgba, size))
        durations.append(frame.info.get("duration", 100) or 100)
    out = io.BytesIO()
    frames[0].save(out, "WEBP", save_all=True, append_images=frames[1:], duration=durations,
                   loop=image.info.get("loop", 0), quality=JPEG_QUALITY)
    return MadeThumbnail(out.getvalue(), "image/webp")
