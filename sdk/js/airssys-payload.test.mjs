// Unit tests of airssys-payload.js, run natively (`node --test`) by
// examples/sensors/build.sh.
import assert from "node:assert/strict";
import { test } from "node:test";
import {
  PayloadError, decode, decodeCbor, decodeJson, encodeCbor, encodeJson,
} from "./airssys-payload.js";

const hex = (s) => Uint8Array.from(s.match(/../g) ?? [], (b) => Number.parseInt(b, 16));
const cbor = (s) => Uint8Array.from([0x51, ...hex(s)]);

test("JSON round-trips with the 80 04 prefix", () => {
  const payload = encodeJson({ room: "kitchen", celsius: 31.5 });
  assert.deepEqual([...payload.subarray(0, 2)], [0x80, 0x04]);
  assert.deepEqual(decodeJson(payload), { room: "kitchen", celsius: 31.5 });
  assert.deepEqual(decode(payload), { room: "kitchen", celsius: 31.5 });
  assert.throws(() => decodeJson(new TextEncoder().encode('{"a":1}')), PayloadError);
});

// Vectors from RFC 8949, appendix A.
const vectors = [
  [0, "00"], [23, "17"], [24, "1818"], [1000, "1903e8"], [1000000, "1a000f4240"],
  [-1, "20"], [-1000, "3903e7"], [1.1, "fb3ff199999999999a"], [false, "f4"], [true, "f5"],
  [null, "f6"], ["", "60"], ["IETF", "6449455446"], [hex("01020304"), "4401020304"],
  [[1, [2, 3], [4, 5]], "8301820203820405"], [{ a: 1, b: [2, 3] }, "a26161016162820203"],
];

test("CBOR encodes and decodes the RFC vectors", () => {
  for (const [value, body] of vectors) {
    assert.deepEqual(encodeCbor(value), cbor(body), JSON.stringify(value));
    assert.deepEqual(decodeCbor(cbor(body)), value, body);
  }
  assert.equal(decodeCbor(cbor("fa47c35000")), 100000);
  assert.equal(decodeCbor(cbor("1bffffffffffffffff")), 18446744073709551615);
});

test("CBOR refuses truncated, trailing and unprefixed input", () => {
  for (const bad of [cbor("6449"), cbor("19ff"), cbor("0000"), hex("00"), cbor("9f"), cbor("")]) {
    assert.throws(() => decodeCbor(bad), PayloadError);
  }
});
