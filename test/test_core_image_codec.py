"""Image message fields <-> arrays: every encoding, padded rows, errors, JPEG/PNG, outputs."""
import array
import struct

import cv2
import numpy as np
import pytest

from avs_ros.core.errors import ImageFormatError
from avs_ros.core.image_codec import (compressed_size, compressed_to_rgb, mask_to_mono8,
                                      raw_to_rgb, rgb_to_bgr8)

H, W = 5, 7
RGB = np.random.default_rng(0).integers(0, 256, (H, W, 3)).astype(np.uint8)
ALPHA = np.random.default_rng(1).integers(0, 256, (H, W, 1)).astype(np.uint8)
GREY = RGB[:, :, 0]


def _pixels(encoding):
    return {"rgb8": RGB, "bgr8": RGB[:, :, ::-1], "mono8": GREY[:, :, None],
            "rgba8": np.concatenate([RGB, ALPHA], 2),
            "bgra8": np.concatenate([RGB[:, :, ::-1], ALPHA], 2)}[encoding]


def _fields(encoding, pad=0):
    """(step, data bytes) with ``pad`` bytes of junk after each row."""
    pixels = _pixels(encoding).reshape(H, -1)
    junk = np.full((H, pad), 0xAB, np.uint8)
    return pixels.shape[1] + pad, np.concatenate([pixels, junk], 1).tobytes()


@pytest.mark.parametrize("encoding", ["rgb8", "bgr8", "mono8", "rgba8", "bgra8"])
@pytest.mark.parametrize("pad", [0, 3])
def test_every_encoding_with_and_without_row_padding(encoding, pad):
    step, data = _fields(encoding, pad)
    out = raw_to_rgb(encoding, H, W, step, data, is_bigendian=1)
    expected = np.repeat(GREY[:, :, None], 3, 2) if encoding == "mono8" else RGB
    np.testing.assert_array_equal(out, expected)
    assert out.dtype == np.uint8 and out.flags.c_contiguous and out.shape == (H, W, 3)
    assert out.flags.writeable and not np.shares_memory(out, np.frombuffer(data, np.uint8))


def test_data_containers_and_omitted_last_row_padding():
    step, data = _fields("rgb8", pad=4)
    for container in (bytearray(data), memoryview(data), array.array("B", data),
                      np.frombuffer(data, np.uint8), list(data)):
        np.testing.assert_array_equal(raw_to_rgb("rgb8", H, W, step, container), RGB)
    np.testing.assert_array_equal(raw_to_rgb("rgb8", H, W, step, data[:-4]), RGB)


@pytest.mark.parametrize("encoding, height, width, step, cut, match", [
    ("rgb8", H, W, 3 * W, 1, r"truncated .*len\(data\)=104.*expected 105 bytes"),
    ("rgb8", H, W, 3 * W - 1, 0,
     r"step is shorter than one row .*step=20.*step >= width \* 3 = 21"),
    ("rgb8", H, W, 3 * W + 2, 0, "truncated"),
    ("rgb8", H - 1, W, 3 * W, 0, "too long"),
    ("16UC1", H, W, 2 * W, 0, r"unsupported image encoding .*'16UC1'.*supported"),
    ("yuyv", H, W, 3 * W, 0, r"yuyv needs an even width"),
    ("nv12", H, W + 1, W + 1, 0, r"nv12 needs an even width and height"),
    ("rgb8", 9000, 3, 9, 0, r"9000 px exceeds the largest size decoded, 8192x8192"),
    ("rgb8", 0, W, 3 * W, 0, "at least 1x1"),
])
def test_bad_fields_raise_naming_what_was_expected(encoding, height, width, step, cut, match):
    data = RGB.tobytes()[:RGB.size - cut]
    with pytest.raises(ImageFormatError, match=match) as info:
        raw_to_rgb(encoding, height, width, step, data)
    assert isinstance(info.value, ValueError)
    assert f"width={width}" in str(info.value) and f"height={height}" in str(info.value)


def test_png_roundtrip_is_exact_and_jpeg_is_close():
    ok, png = cv2.imencode(".png", RGB[:, :, ::-1])
    np.testing.assert_array_equal(compressed_to_rgb("png", png.tobytes()), RGB)
    smooth = np.zeros((32, 48, 3), np.uint8)
    smooth[:, :, 0] = 200
    smooth[:, :, 1] = np.linspace(0, 255, 48).astype(np.uint8)
    smooth[:, :, 2] = 40
    ok, jpg = cv2.imencode(".jpg", smooth[:, :, ::-1], [cv2.IMWRITE_JPEG_QUALITY, 95])
    out = compressed_to_rgb("rgb8; jpeg compressed bgr8", array.array("B", jpg.tobytes()))
    assert out.shape == (32, 48, 3)
    assert np.abs(out.astype(int) - smooth).mean() < 3.0
    ok, grey = cv2.imencode(".png", GREY)
    np.testing.assert_array_equal(compressed_to_rgb("png", grey.tobytes()),
                                  np.repeat(GREY[:, :, None], 3, 2))


def test_undecodable_or_depth_compressed_images_raise():
    with pytest.raises(ImageFormatError, match=r"neither JPEG nor PNG .*len\(data\)=4"):
        compressed_to_rgb("jpeg", b"\x00\x01\x02\x03")
    with pytest.raises(ImageFormatError, match="neither JPEG nor PNG"):
        compressed_to_rgb("png", b"")
    ok, jpg = cv2.imencode(".jpg", RGB)
    with pytest.raises(ImageFormatError, match=r"cannot decode .*jpeg 7x5"):
        compressed_to_rgb("jpeg", jpg.tobytes()[:len(jpg) // 2] + bytes(10))
    with pytest.raises(ImageFormatError, match="JPEG without a frame header"):
        compressed_to_rgb("jpeg", jpg.tobytes()[:20])
    with pytest.raises(ImageFormatError, match="depth"):
        compressed_to_rgb("16UC1; compressedDepth png", b"\x89PNG")


def test_mask_and_overlay_output_fields_roundtrip():
    mask = (np.arange(H * W) % 3).astype(np.uint8).reshape(H, W)
    f = mask_to_mono8(mask)
    assert (f.encoding, f.height, f.width, f.step, f.is_bigendian) == ("mono8", H, W, W, 0)
    assert f.data == mask.tobytes()
    g = rgb_to_bgr8(RGB)
    assert (g.encoding, g.step, len(g.data)) == ("bgr8", 3 * W, 3 * W * H)
    assert g.data[:3] == bytes(RGB[0, 0, ::-1])
    np.testing.assert_array_equal(raw_to_rgb(g.encoding, g.height, g.width, g.step, g.data), RGB)
    with pytest.raises(ImageFormatError, match="uint8 \\[H, W\\]"):
        mask_to_mono8(mask.astype(np.int32))
    with pytest.raises(ImageFormatError, match="uint8 \\[H, W, 3\\]"):
        rgb_to_bgr8(RGB[:, :, :2])


# ---- the formats real drivers publish, against OpenCV's own colour conversions ------------
# A smooth image (so that demosaicing and chroma subsampling lose little) built in RGB, turned
# into each driver format by OpenCV's encoders or by sampling (Bayer), decoded by us.
SH, SW = 48, 64
_yy, _xx = np.mgrid[0:SH, 0:SW].astype(np.float64)
SMOOTH = np.stack([40 + 3 * _xx, 200 - 2 * _yy, 90 + _xx + _yy], 2).clip(0, 255).astype(np.uint8)


def _bayer(pattern: str) -> np.ndarray:
    """RGB -> a Bayer mosaic; ``pattern`` names the 2x2 tile row by row, as ROS does
    (``rggb``: R at (0, 0), G at (0, 1) and (1, 0), B at (1, 1))."""
    channel = {"r": 0, "g": 1, "b": 2}
    mosaic = np.empty((SH, SW), np.uint8)
    for k, letter in enumerate(pattern):
        dy, dx = divmod(k, 2)
        mosaic[dy::2, dx::2] = SMOOTH[dy::2, dx::2, channel[letter]]
    return mosaic


def _driver_bytes(encoding: str) -> tuple[np.ndarray, float]:
    """(pixels as the driver lays them out [rows, row bytes], mean abs error allowed)."""
    if encoding in ("yuv422", "uyvy"):
        return cv2.cvtColor(SMOOTH, cv2.COLOR_RGB2YUV_UYVY).reshape(SH, -1), 3.0
    if encoding in ("yuv422_yuy2", "yuyv"):
        return cv2.cvtColor(SMOOTH, cv2.COLOR_RGB2YUV_YUY2).reshape(SH, -1), 3.0
    if encoding in ("nv12", "nv21"):
        i420 = cv2.cvtColor(SMOOTH, cv2.COLOR_RGB2YUV_I420)       # Y, U plane, V plane
        u = i420[SH:SH + SH // 4].reshape(-1)
        v = i420[SH + SH // 4:].reshape(-1)
        uv = np.stack([u, v] if encoding == "nv12" else [v, u], 1).reshape(SH // 2, SW)
        return np.concatenate([i420[:SH], uv]), 3.0
    if encoding.startswith("bayer_"):
        return _bayer(encoding[6:10]), 4.0
    if encoding == "8UC3":
        return SMOOTH[:, :, ::-1].reshape(SH, -1), 0.0      # OpenCV's BGR order
    raise AssertionError(encoding)


@pytest.mark.parametrize("encoding", ["yuv422", "uyvy", "yuv422_yuy2", "yuyv", "nv12", "nv21",
                                      "bayer_rggb8", "bayer_bggr8", "bayer_gbrg8",
                                      "bayer_grbg8", "8UC3"])
@pytest.mark.parametrize("pad", [0, 6])
def test_driver_encodings_decode_to_the_known_image(encoding, pad):
    pixels, tolerance = _driver_bytes(encoding)
    padded = np.concatenate([pixels, np.full((pixels.shape[0], pad), 0xCD, np.uint8)], 1)
    out = raw_to_rgb(encoding, SH, SW, padded.shape[1], padded.tobytes())
    assert out.shape == (SH, SW, 3) and out.dtype == np.uint8
    err = np.abs(out.astype(int) - SMOOTH)[2:-2, 2:-2].mean()     # borders: demosaic edges
    assert err <= tolerance, (encoding, err)
    # a swapped pattern or chroma order is far off: the check can fail
    if encoding.startswith("bayer_"):
        swapped = {"rggb": "bggr", "bggr": "rggb", "gbrg": "grbg", "grbg": "gbrg"}[encoding[6:10]]
        wrong = raw_to_rgb(f"bayer_{swapped}8", SH, SW, padded.shape[1], padded.tobytes())
        assert np.abs(wrong.astype(int) - SMOOTH)[2:-2, 2:-2].mean() > 20


@pytest.mark.parametrize("bigendian", [0, 1])
def test_mono16_matches_opencv_reading_a_16_bit_png(bigendian):
    grey16 = (np.arange(SH * SW, dtype=np.uint32) * 977 % 65536).astype(np.uint16)
    grey16 = grey16.reshape(SH, SW)
    grey16[0, :4] = [128, 384, 65535, 32896]       # x / 256 = .5, 1.5, ...: truncated
    ok, png = cv2.imencode(".png", grey16)
    reference = cv2.imdecode(png, cv2.IMREAD_COLOR)    # OpenCV's own 16 -> 8 bit rule
    data = grey16.astype(">u2" if bigendian else "<u2").tobytes()
    out = raw_to_rgb("mono16", SH, SW, 2 * SW, data, is_bigendian=bigendian)
    np.testing.assert_array_equal(out, reference[:, :, ::-1])
    # and the same PNG through the compressed path
    np.testing.assert_array_equal(compressed_to_rgb("png", png.tobytes()), out)


def _jpeg_claiming(width: int, height: int) -> bytes:
    jpg = bytearray(cv2.imencode(".jpg", RGB)[1].tobytes())
    sof = jpg.find(b"\xff\xc0")
    jpg[sof + 5:sof + 9] = struct.pack(">HH", height, width)
    return bytes(jpg)


def test_size_limit_is_checked_from_the_header_before_decoding():
    """A JPEG whose header claims 65000x65000 once crashed the node inside cv2.imdecode."""
    with pytest.raises(ImageFormatError, match=r"65000x65000 px exceeds .* 8192x8192"):
        compressed_to_rgb("jpeg", _jpeg_claiming(65000, 65000))
    assert compressed_size(_jpeg_claiming(9000, 30)) == ("jpeg", 30, 9000)
    png = bytearray(cv2.imencode(".png", RGB)[1].tobytes())
    png[16:24] = struct.pack(">II", 100000, 4)
    with pytest.raises(ImageFormatError, match=r"100000x4 px exceeds"):
        compressed_to_rgb("png", bytes(png))
    with pytest.raises(ImageFormatError, match=r"7x5 px exceeds .* 4x4"):
        compressed_to_rgb("png", cv2.imencode(".png", RGB)[1].tobytes(), max_size=(4, 4))
    with pytest.raises(ImageFormatError, match=r"exceeds"):
        raw_to_rgb("rgb8", H, W, 3 * W, RGB.tobytes(), max_size=(H, W - 1))
