"""Unit tests of airssys_payload, run natively by examples/sensors/build.sh."""

import unittest

from airssys_payload import (
    PayloadError, decode, decode_cbor, decode_json, encode_cbor, encode_json,
)


class Json(unittest.TestCase):
    def test_round_trip_with_the_prefix(self):
        payload = encode_json({"room": "kitchen", "celsius": 31.5})
        self.assertEqual(payload, b'\x80\x04{"celsius":31.5,"room":"kitchen"}')
        self.assertEqual(decode_json(payload), {"room": "kitchen", "celsius": 31.5})
        self.assertEqual(decode(payload), {"room": "kitchen", "celsius": 31.5})

    def test_refuses_a_payload_without_the_prefix(self):
        with self.assertRaises(PayloadError):
            decode_json(b'{"a":1}')
        with self.assertRaises(PayloadError):
            decode_json(b"\x80\x04{not json")


class Cbor(unittest.TestCase):
    # Vectors from RFC 8949, appendix A.
    VECTORS = [
        (0, "00"), (23, "17"), (24, "1818"), (1000, "1903e8"),
        (1000000, "1a000f4240"), (18446744073709551615, "1bffffffffffffffff"),
        (-1, "20"), (-1000, "3903e7"), (1.1, "fb3ff199999999999a"),
        (False, "f4"), (True, "f5"), (None, "f6"), ("", "60"), ("IETF", "6449455446"),
        (b"\x01\x02\x03\x04", "4401020304"), ([1, [2, 3], [4, 5]], "8301820203820405"),
        ({"a": 1, "b": [2, 3]}, "a26161016162820203"),
    ]

    def test_encodes_the_rfc_vectors(self):
        for value, hex_body in self.VECTORS:
            self.assertEqual(encode_cbor(value), b"\x51" + bytes.fromhex(hex_body), value)

    def test_decodes_the_rfc_vectors_and_half_and_single_floats(self):
        for value, hex_body in self.VECTORS:
            self.assertEqual(decode_cbor(b"\x51" + bytes.fromhex(hex_body)), value)
        self.assertEqual(decode_cbor(b"\x51" + bytes.fromhex("f93c00")), 1.0)
        self.assertEqual(decode_cbor(b"\x51" + bytes.fromhex("fa47c35000")), 100000.0)

    def test_refuses_truncated_trailing_and_unprefixed_input(self):
        for bad in [b"\x51\x64IE", b"\x51\x00\x00", b"\x00", b"\x51\x9f", b"\x51"]:
            with self.assertRaises(PayloadError, msg=bad):
                decode_cbor(bad)


if __name__ == "__main__":
    unittest.main()
