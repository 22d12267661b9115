"""A brand logo: PNG or JPEG bytes, checked by header and by the size they decode to, before
anything stores or draws them. Callers send bytes, never a server path."""

from __future__ import annotations

import base64
import binascii
import struct

logo_bytes_max = 256 * 1024
logo_pixels_side_max = 4096
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
JPEG_SIGNATURE = b"\xff\xd8\xff"
DATA_URL_PREFIXES = ("data:image/png;base64,", "data:image/jpeg;base64,")
# JPEG start-of-frame markers (baseline, progressive, ...): they carry the image's size.
_JPEG_FRAMES = {0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF}


class LogoError(ValueError):
    """The bytes are not a logo rebill accepts; the message says why."""


def media_type(data: bytes) -> str:
    return "image/jpeg" if data.startswith(JPEG_SIGNATURE) else "image/png"


def from_data_url(text: str) -> bytes:
    """The bytes of a `data:image/png;base64,…` (or jpeg) URL, checked."""
    prefix = next((p for p in DATA_URL_PREFIXES if text.startswith(p)), None)
    if prefix is None:
        raise LogoError("a logo is a data URL: data:image/png;base64,… or data:image/jpeg;base64,…")
    encoded = text[len(prefix) :]
    if len(encoded) > (logo_bytes_max + 2) // 3 * 4:
        raise LogoError(f"a logo is at most {logo_bytes_max // 1024} KiB")
    try:
        data = base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError):
        raise LogoError("the logo's base64 is not valid") from None
    return checked(data)


def checked(data: bytes) -> bytes:
    """`data` when it is a PNG or JPEG of at most `logo_bytes_max` bytes and
    `logo_pixels_side_max` pixels a side; LogoError otherwise."""
    if len(data) > logo_bytes_max:
        raise LogoError(f"a logo is at most {logo_bytes_max // 1024} KiB")
    if data.startswith(PNG_SIGNATURE):
        width, height = _png_size(data)
    elif data.startswith(JPEG_SIGNATURE):
        width, height = _jpeg_size(data)
    else:
        raise LogoError("a logo is a PNG or JPEG image")
    if not (0 < width <= logo_pixels_side_max and 0 < height <= logo_pixels_side_max):
        raise LogoError(
            f"a logo is at most {logo_pixels_side_max}×{logo_pixels_side_max} pixels "
            f"(this one says {width}×{height})"
        )
    return data


def _png_size(data: bytes) -> tuple[int, int]:
    # The first chunk after the signature is IHDR: length, type, width, height.
    if len(data) < 24 or data[12:16] != b"IHDR":
        raise LogoError("the PNG has no image header")
    width, height = struct.unpack(">II", data[16:24])
    return int(width), int(height)


def _jpeg_size(data: bytes) -> tuple[int, int]:
    index = 2
    while index + 4 <= len(data):
        if data[index] != 0xFF:
            break
        marker = data[index + 1]
        if marker == 0xFF:  # fill byte
            index += 1
            continue
        (length,) = struct.unpack(">H", data[index + 2 : index + 4])
        if marker in _JPEG_FRAMES:
            if index + 9 > len(data):
                break
            height, width = struct.unpack(">HH", data[index + 5 : index + 9])
            return int(width), int(height)
        if length < 2:
            break
        index += 2 + length
    raise LogoError("the JPEG has no frame header")
