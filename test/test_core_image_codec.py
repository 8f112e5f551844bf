"""Image message fields <-> arrays: every encoding, padded rows, errors, JPEG/PNG, outputs."""
import array

import cv2
import numpy as np
import pytest

from avs_ros.core.errors import ImageFormatError
from avs_ros.core.image_codec import (compressed_to_rgb, mask_to_mono8, raw_to_rgb,
                                      rgb_to_bgr8)

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
    ("mono16", H, W, 2 * W, 0, r"unsupported image encoding .*'mono16'.*supported"),
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
    with pytest.raises(ImageFormatError, match=r"cannot decode .*'jpeg'.*len\(data\)=4"):
        compressed_to_rgb("jpeg", b"\x00\x01\x02\x03")
    with pytest.raises(ImageFormatError, match="cannot decode"):
        compressed_to_rgb("png", b"")
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
