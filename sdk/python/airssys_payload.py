"""Multicodec payloads for airssys guests written in Python.

A payload may start with a multicodec prefix saying how its body is
encoded (crates/airssys-wasm/src/codec.rs is the host's side):

    codec  code    prefix bytes
    JSON   0x0200  80 04
    CBOR   0x51    51

`airssys ctl send/request/publish --encode json` encodes this way, and the host's
live view and dead-letter reports decode it. Plain bytes without a prefix
are fine too: use these helpers only where a payload is structured.

Pure Python (no C extensions), so componentize-py bundles it as is: put
this file's directory on the `-p` path when componentizing.
"""

import json
import struct

JSON_PREFIX = b"\x80\x04"
CBOR_PREFIX = b"\x51"


class PayloadError(ValueError):
    """A payload that is not what the caller expected."""


def encode_json(value) -> bytes:
    """`value` as multicodec JSON (compact, keys sorted)."""
    return JSON_PREFIX + json.dumps(value, sort_keys=True, separators=(",", ":")).encode()


def decode_json(payload: bytes):
    """The value of a multicodec JSON payload; PayloadError otherwise."""
    if not payload.startswith(JSON_PREFIX):
        raise PayloadError("not a multicodec JSON payload (no 80 04 prefix)")
    try:
        return json.loads(payload[len(JSON_PREFIX):])
    except ValueError as e:
        raise PayloadError(f"malformed JSON body: {e}") from None


def encode_cbor(value) -> bytes:
    """`value` (None, bool, int, float, str, bytes, list, dict) as multicodec CBOR."""
    out = bytearray(CBOR_PREFIX)
    _cbor_put(out, value)
    return bytes(out)


def decode_cbor(payload: bytes):
    """The value of a multicodec CBOR payload; PayloadError otherwise."""
    if not payload.startswith(CBOR_PREFIX):
        raise PayloadError("not a multicodec CBOR payload (no 51 prefix)")
    try:
        value, end = _cbor_get(payload, len(CBOR_PREFIX))
    except (IndexError, struct.error, UnicodeDecodeError) as e:
        raise PayloadError(f"malformed CBOR body: {e}") from None
    if end != len(payload):
        raise PayloadError(f"{len(payload) - end} byte(s) after the CBOR value")
    return value


def decode(payload: bytes):
    """The value of a JSON or CBOR payload, by its prefix; PayloadError otherwise."""
    if payload.startswith(JSON_PREFIX):
        return decode_json(payload)
    if payload.startswith(CBOR_PREFIX):
        return decode_cbor(payload)
    raise PayloadError("no JSON or CBOR multicodec prefix")


def _cbor_head(out: bytearray, major: int, n: int) -> None:
    if n < 24:
        out.append(major << 5 | n)
    elif n < 1 << 8:
        out += bytes([major << 5 | 24, n])
    elif n < 1 << 16:
        out.append(major << 5 | 25)
        out += struct.pack(">H", n)
    elif n < 1 << 32:
        out.append(major << 5 | 26)
        out += struct.pack(">I", n)
    else:
        out.append(major << 5 | 27)
        out += struct.pack(">Q", n)


def _cbor_put(out: bytearray, value) -> None:
    if value is None:
        out.append(0xF6)
    elif value is True:
        out.append(0xF5)
    elif value is False:
        out.append(0xF4)
    elif isinstance(value, int):
        if not -(1 << 64) <= value < 1 << 64:
            raise PayloadError(f"integer {value} does not fit CBOR's 64 bits")
        if value >= 0:
            _cbor_head(out, 0, value)
        else:
            _cbor_head(out, 1, -1 - value)
    elif isinstance(value, float):
        out.append(0xFB)
        out += struct.pack(">d", value)
    elif isinstance(value, (bytes, bytearray)):
        _cbor_head(out, 2, len(value))
        out += value
    elif isinstance(value, str):
        data = value.encode()
        _cbor_head(out, 3, len(data))
        out += data
    elif isinstance(value, (list, tuple)):
        _cbor_head(out, 4, len(value))
        for item in value:
            _cbor_put(out, item)
    elif isinstance(value, dict):
        _cbor_head(out, 5, len(value))
        for key, item in value.items():
            _cbor_put(out, key)
            _cbor_put(out, item)
    else:
        raise PayloadError(f"cannot encode a {type(value).__name__} as CBOR")


def _cbor_get(data: bytes, at: int):
    first = data[at]
    major, info = first >> 5, first & 0x1F
    at += 1
    if major == 7:
        simple = {20: False, 21: True, 22: None}
        if info in simple:
            return simple[info], at
        if info == 25:
            return struct.unpack(">e", data[at:at + 2])[0], at + 2
        if info == 26:
            return struct.unpack(">f", data[at:at + 4])[0], at + 4
        if info == 27:
            return struct.unpack(">d", data[at:at + 8])[0], at + 8
        raise PayloadError(f"unsupported CBOR simple value {info}")
    if info < 24:
        n = info
    elif info in (24, 25, 26, 27):
        width = 1 << (info - 24)
        n = int.from_bytes(data[at:at + width], "big")
        if len(data) < at + width:
            raise PayloadError("truncated CBOR length")
        at += width
    else:
        raise PayloadError("indefinite-length CBOR items are not supported")
    if major == 0:
        return n, at
    if major == 1:
        return -1 - n, at
    if major in (2, 3):
        chunk = data[at:at + n]
        if len(chunk) != n:
            raise PayloadError("truncated CBOR string")
        return (bytes(chunk) if major == 2 else chunk.decode()), at + n
    if major == 4:
        items = []
        for _ in range(n):
            item, at = _cbor_get(data, at)
            items.append(item)
        return items, at
    if major == 5:
        entries = {}
        for _ in range(n):
            key, at = _cbor_get(data, at)
            entries[key], at = _cbor_get(data, at)
        return entries, at
    raise PayloadError(f"unsupported CBOR major type {major} (tags)")
