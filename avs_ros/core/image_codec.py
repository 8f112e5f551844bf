"""Image message fields <-> numpy arrays, written against the fields of ``sensor_msgs/Image``
and ``sensor_msgs/CompressedImage`` (no cv_bridge, no rclpy: the ROS layer copies fields).

Raw inputs (any ``step``; row padding allowed), by ``sensor_msgs/image_encodings.hpp`` name:

- 8-bit colour and grey: ``rgb8``, ``bgr8``, ``rgba8``, ``bgra8``, ``mono8``; the OpenCV-style
  generic ``8UC1`` (grey), ``8UC3`` (BGR, OpenCV's channel order) and ``8UC4`` (BGRA);
- ``mono16``: 16-bit grey in the byte order ``is_bigendian`` names, scaled to 8 bit as
  OpenCV's ``imread`` does for a 16-bit PNG read in colour (the high byte, ``x >> 8``);
- YUV 4:2:2: ``yuv422``/``uyvy`` (U Y0 V Y1) and ``yuv422_yuy2``/``yuyv`` (Y0 U Y1 V) — both
  spellings, since Humble and cv_bridge know only the old names; even width;
- YUV 4:2:0: ``nv12`` (Y plane, then interleaved U V rows) and ``nv21`` (V U); even width and
  height, ``height * 3 / 2`` rows of ``step`` bytes;
- Bayer: ``bayer_rggb8``, ``bayer_bggr8``, ``bayer_gbrg8``, ``bayer_grbg8`` (the two letters
  of the first row, as ROS names them; OpenCV names a pattern by the second row's 2x2 start,
  so ``rggb`` is OpenCV's ``BayerBG``, as in cv_bridge).

Colour conversions are OpenCV's (``cv2.cvtColor``, BT.601 limited range for YUV, bilinear
demosaicing for Bayer), as cv_bridge uses them. Compressed inputs: JPEG and PNG, whose size is
read from the header before anything is decoded. Every input becomes HxWx3 uint8 RGB, and an
image larger than the caller's ``max_size`` is rejected before it is decoded. Outputs: a
class-id mask as ``mono8`` and an RGB overlay as ``bgr8`` fields.
"""
from __future__ import annotations

import struct
from dataclasses import dataclass

import numpy as np

from .errors import ImageFormatError

#: largest image decoded by default, (height, width) px (the node's ``max_image_size``)
MAX_SIZE = (8192, 8192)


@dataclass(frozen=True)
class RawLayout:
    """How a raw encoding lies in memory: ``bytes_per_pixel`` of one row, ``rows_per_line``
    = rows of ``step`` bytes per image row (1.5 for the 4:2:0 formats: a chroma plane of half
    height follows the luma plane), ``even`` = (width, height) must be even, and the
    ``cv2.COLOR_*`` name that turns the pixels into RGB (None: channels are read directly)."""

    bytes_per_pixel: int
    cv_code: str | None = None
    rows_per_line: float = 1.0
    even: tuple[bool, bool] = (False, False)


#: raw encodings read by :func:`raw_to_rgb`
RAW_ENCODINGS: dict[str, RawLayout] = {
    "rgb8": RawLayout(3), "bgr8": RawLayout(3), "rgba8": RawLayout(4), "bgra8": RawLayout(4),
    "mono8": RawLayout(1), "8UC1": RawLayout(1), "8UC3": RawLayout(3), "8UC4": RawLayout(4),
    "mono16": RawLayout(2),
    "yuv422": RawLayout(2, "COLOR_YUV2RGB_UYVY", even=(True, False)),
    "uyvy": RawLayout(2, "COLOR_YUV2RGB_UYVY", even=(True, False)),
    "yuv422_yuy2": RawLayout(2, "COLOR_YUV2RGB_YUY2", even=(True, False)),
    "yuyv": RawLayout(2, "COLOR_YUV2RGB_YUY2", even=(True, False)),
    "nv12": RawLayout(1, "COLOR_YUV2RGB_NV12", 1.5, (True, True)),
    "nv21": RawLayout(1, "COLOR_YUV2RGB_NV21", 1.5, (True, True)),
    "bayer_rggb8": RawLayout(1, "COLOR_BayerBG2RGB"),
    "bayer_bggr8": RawLayout(1, "COLOR_BayerRG2RGB"),
    "bayer_gbrg8": RawLayout(1, "COLOR_BayerGR2RGB"),
    "bayer_grbg8": RawLayout(1, "COLOR_BayerGB2RGB"),
}
#: encodings whose three or four channels are stored blue first
_BGR_ORDER = ("bgr8", "bgra8", "8UC3", "8UC4")


@dataclass(frozen=True)
class ImageFields:
    """The fields of a ``sensor_msgs/Image`` (header excluded): ``data`` holds ``height`` rows
    of ``step`` bytes. For rclpy, ``msg.data.frombytes(fields.data)`` or
    ``msg.data = array.array('B', fields.data)`` fills the message without a per-byte check."""

    height: int
    width: int
    encoding: str
    is_bigendian: int
    step: int
    data: bytes


def _as_bytes(data) -> np.ndarray:
    """Any buffer (bytes, bytearray, memoryview, array.array('B'), uint8 array) or a sequence
    of ints -> uint8 [n] (no copy for buffers)."""
    if isinstance(data, np.ndarray):
        if data.dtype != np.uint8:
            raise ImageFormatError(f"image data must be uint8 bytes, got dtype {data.dtype}")
        return data.reshape(-1)
    try:
        return np.frombuffer(memoryview(data).cast("B"), dtype=np.uint8)
    except TypeError:
        try:
            return np.asarray(data, dtype=np.uint8).reshape(-1)
        except (TypeError, ValueError, OverflowError) as exc:
            raise ImageFormatError(f"image data must be bytes, got {type(data).__name__} "
                                   f"({exc})") from None


def check_size(height: int, width: int, max_size: tuple[int, int], desc: str) -> None:
    """Raise :class:`ImageFormatError` naming ``desc`` unless 1 <= height <= max_size[0] and
    1 <= width <= max_size[1] (px)."""
    if height < 1 or width < 1:
        raise ImageFormatError(f"image size must be at least 1x1 px ({desc})")
    if height > max_size[0] or width > max_size[1]:
        raise ImageFormatError(f"image of {width}x{height} px exceeds the largest size "
                               f"decoded, {max_size[1]}x{max_size[0]} px (max_image_size "
                               f"[height, width]); skipped before decoding ({desc})")


def raw_to_rgb(encoding: str, height: int, width: int, step: int, data,
               is_bigendian: int = 0, max_size: tuple[int, int] = MAX_SIZE) -> np.ndarray:
    """Decode a raw ``sensor_msgs/Image`` to RGB.

    Args:
        encoding: a key of :data:`RAW_ENCODINGS` (case-sensitive, as ROS writes them).
        height, width: rows and columns in px, at least 1 and at most ``max_size``.
        step: bytes per row, >= width * bytes per pixel (extra bytes are row padding).
        data: ``rows * step`` bytes, rows = height (``height * 3 / 2`` for nv12/nv21); the
            last row's padding may be omitted.
        is_bigendian: byte order of ``mono16`` samples (ignored for 8-bit encodings).
        max_size: (height, width) of the largest image decoded, px.

    Returns:
        uint8 [height, width, 3] RGB, C-contiguous (a copy; alpha dropped, grey replicated).

    Raises:
        ImageFormatError: unsupported encoding, a size outside [1, max_size], an odd width or
            height where the encoding needs an even one, a step shorter than one row, or a
            data length other than expected; the message names encoding, width, height,
            step, length and what was expected.
    """
    layout = RAW_ENCODINGS.get(encoding)
    desc = f"encoding={encoding!r} width={width} height={height} step={step}"
    if layout is None:
        raise ImageFormatError(f"unsupported image encoding ({desc}); supported: "
                               f"{sorted(RAW_ENCODINGS)} or a CompressedImage (JPEG/PNG)")
    check_size(height, width, max_size, desc)
    buf = _as_bytes(data)
    desc += f" len(data)={buf.size}"
    even_w, even_h = layout.even
    if even_w and width % 2 or even_h and height % 2:
        raise ImageFormatError(f"{encoding} needs an even width{' and height' if even_h else ''}"
                               f" (chroma is shared by pixel pairs) ({desc})")
    row = width * layout.bytes_per_pixel
    if step < row:
        raise ImageFormatError(f"step is shorter than one row ({desc}); expected step >= "
                               f"width * {layout.bytes_per_pixel} = {row} bytes for "
                               f"{encoding}")
    lines = int(height * layout.rows_per_line)
    full, minimal = step * lines, step * (lines - 1) + row
    if not minimal <= buf.size <= full:
        rows = "height" if lines == height else "height * 3 / 2"
        expected = f"{full} bytes ({rows} * step)" if minimal == full else \
            f"{minimal} to {full} bytes ({rows} * step, last row's padding optional)"
        kind = "truncated" if buf.size < minimal else "too long"
        raise ImageFormatError(f"image data {kind} ({desc}); expected {expected}")
    if buf.size < full:
        buf = np.concatenate([buf, np.zeros(full - buf.size, np.uint8)])
    pixels = buf.reshape(lines, step)[:, :row]
    return _to_rgb(encoding, layout, pixels, height, width, is_bigendian)


def _to_rgb(encoding: str, layout: RawLayout, pixels: np.ndarray, height: int, width: int,
            is_bigendian: int) -> np.ndarray:
    """``lines`` x ``row`` uint8 pixel bytes (a view of the message) -> a fresh RGB copy."""
    import cv2

    if layout.cv_code is not None:
        shape = (height, width, 2) if layout.bytes_per_pixel == 2 else pixels.shape
        return cv2.cvtColor(np.ascontiguousarray(pixels).reshape(shape),
                            getattr(cv2, layout.cv_code))
    if encoding == "mono16":
        grey16 = np.ascontiguousarray(pixels).view(">u2" if is_bigendian else "<u2")
        grey = (grey16 >> 8).astype(np.uint8)   # the high byte, as imread of a 16-bit PNG
        return cv2.cvtColor(grey, cv2.COLOR_GRAY2RGB)
    channels = layout.bytes_per_pixel
    pixels = pixels.reshape(height, width, channels)
    if channels == 1:
        return np.repeat(pixels, 3, axis=2)
    if encoding in _BGR_ORDER:
        return pixels[:, :, 2::-1].copy()
    return pixels[:, :, :3].copy()     # never a view of the message's buffer


_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
#: JPEG start-of-frame markers (SOF0..SOF15 without DHT C4, JPG C8, DAC CC)
_JPEG_SOF = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}


def compressed_size(data) -> tuple[str, int, int]:
    """(codec, height, width) of JPEG or PNG bytes, read from the header alone (the PNG IHDR
    chunk; the JPEG start-of-frame segment, found by walking the marker segments as in ITU-T
    T.81 Annex B).

    Raises:
        ImageFormatError: neither JPEG nor PNG, or a header that ends or breaks before the
            size (length named).
    """
    buf = bytes(_as_bytes(data)[:1 << 20]) if not isinstance(data, bytes) else data
    n = len(buf)
    if buf.startswith(_PNG_SIGNATURE):
        if n < 24 or buf[12:16] != b"IHDR":
            raise ImageFormatError(f"PNG without an IHDR header (len(data)={n})")
        width, height = struct.unpack(">II", buf[16:24])
        return "png", height, width
    if not buf.startswith(b"\xff\xd8"):
        raise ImageFormatError(f"compressed image is neither JPEG nor PNG (len(data)={n}, "
                               f"first bytes {buf[:8].hex()}); expected JPEG or PNG bytes")
    i = 2
    while i + 4 <= n:
        if buf[i] != 0xFF:
            raise ImageFormatError(f"JPEG header broken at byte {i} before the frame size "
                                   f"(len(data)={n})")
        marker = buf[i + 1]
        if marker == 0xFF:          # fill byte
            i += 1
            continue
        if marker == 0x01 or 0xD0 <= marker <= 0xD8:   # segments without a length
            i += 2
            continue
        length = struct.unpack(">H", buf[i + 2:i + 4])[0]
        if marker == 0xD9:
            break
        if marker in _JPEG_SOF:
            if i + 9 > n or length < 8:
                break
            height, width = struct.unpack(">HH", buf[i + 5:i + 9])
            return "jpeg", height, width
        if marker == 0xDA or length < 2:     # scan data before any frame header
            break
        i += 2 + length
    raise ImageFormatError(f"JPEG without a frame header (SOF) giving its size "
                           f"(len(data)={n})")


def compressed_to_rgb(fmt: str, data, max_size: tuple[int, int] = MAX_SIZE) -> np.ndarray:
    """Decode a ``sensor_msgs/CompressedImage`` (JPEG or PNG) to RGB with ``cv2.imdecode``,
    after checking the size its header announces.

    Args:
        fmt: the message's ``format`` string ("jpeg", "png", "bgr8; jpeg compressed bgr8");
            used in error messages only, since the codec is recognised from the bytes.
            ``compressedDepth`` images are rejected.
        data: the compressed bytes.
        max_size: (height, width) of the largest image decoded, px.

    Returns:
        uint8 [H, W, 3] RGB (grey images replicated, alpha dropped, 16-bit scaled to 8).

    Raises:
        ImageFormatError: a depth format, bytes that are not JPEG or PNG, a header size
            outside [1, max_size], or bytes OpenCV cannot decode (format and length named).
    """
    import cv2

    if "compresseddepth" in str(fmt).lower():
        raise ImageFormatError(f"compressed depth images are not supported (format={fmt!r})")
    buf = _as_bytes(data)
    codec, height, width = compressed_size(buf)
    check_size(height, width, max_size, f"format={fmt!r} {codec} header, len(data)={buf.size}")
    try:
        bgr = cv2.imdecode(buf, cv2.IMREAD_COLOR)
    except cv2.error as exc:
        raise ImageFormatError(f"cannot decode compressed image (format={fmt!r}, "
                               f"len(data)={buf.size}): {str(exc).strip()}") from None
    if bgr is None:
        raise ImageFormatError(f"cannot decode compressed image (format={fmt!r}, {codec} "
                               f"{width}x{height}, len(data)={buf.size}); expected complete "
                               f"JPEG or PNG bytes")
    return np.ascontiguousarray(bgr[:, :, ::-1])


def mask_to_mono8(mask: np.ndarray) -> ImageFields:
    """Class-id mask uint8 [H, W] -> ``mono8`` fields (step = W, no padding).

    Raises:
        ImageFormatError: not a 2-D uint8 array.
    """
    if not isinstance(mask, np.ndarray) or mask.ndim != 2 or mask.dtype != np.uint8:
        raise ImageFormatError(f"mask must be uint8 [H, W] class ids, got "
                               f"{_describe(mask)}")
    h, w = mask.shape
    return ImageFields(h, w, "mono8", 0, w, np.ascontiguousarray(mask).tobytes())


def rgb_to_bgr8(rgb: np.ndarray) -> ImageFields:
    """RGB uint8 [H, W, 3] (e.g. the overlay) -> ``bgr8`` fields (step = 3 W, no padding).

    Raises:
        ImageFormatError: not a uint8 [H, W, 3] array.
    """
    if not isinstance(rgb, np.ndarray) or rgb.ndim != 3 or rgb.shape[2] != 3 \
            or rgb.dtype != np.uint8:
        raise ImageFormatError(f"image must be uint8 [H, W, 3] RGB, got {_describe(rgb)}")
    import cv2

    h, w = rgb.shape[:2]
    # cvtColor: one pass, ten times faster than copying the reversed-channel view (3 ms at
    # 640x480)
    return ImageFields(h, w, "bgr8", 0, 3 * w, cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR).tobytes())


def _describe(x) -> str:
    if isinstance(x, np.ndarray):
        return f"{x.dtype} array of shape {x.shape}"
    return type(x).__name__
