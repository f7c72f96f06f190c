// Multicodec payloads for airssys guests written in JavaScript.
//
// A payload may start with a multicodec prefix saying how its body is
// encoded (crates/airssys-wasm/src/codec.rs is the host's side):
//
//   codec  code    prefix bytes
//   JSON   0x0200  80 04
//   CBOR   0x51    51
//
// `airssys ctl send/request/publish --encode json` encodes this way, and the
// host's live view and dead-letter reports decode it. Plain bytes without a
// prefix are fine too: use these helpers only where a payload is structured.
//
// An ES module with no dependencies: import it with a relative path and
// componentize-js bundles it into the component.

export const JSON_PREFIX = Uint8Array.of(0x80, 0x04);
export const CBOR_PREFIX = Uint8Array.of(0x51);

const encoder = new TextEncoder();
const decoder = new TextDecoder("utf-8", { fatal: true });

/** A payload that is not what the caller expected. */
export class PayloadError extends Error {}

function startsWith(bytes, prefix) {
  return bytes.length >= prefix.length && prefix.every((b, i) => bytes[i] === b);
}

function concat(prefix, body) {
  const out = new Uint8Array(prefix.length + body.length);
  out.set(prefix, 0);
  out.set(body, prefix.length);
  return out;
}

/** `value` as multicodec JSON. */
export function encodeJson(value) {
  return concat(JSON_PREFIX, encoder.encode(JSON.stringify(value)));
}

/** The value of a multicodec JSON payload; throws PayloadError otherwise. */
export function decodeJson(payload) {
  if (!startsWith(payload, JSON_PREFIX)) {
    throw new PayloadError("not a multicodec JSON payload (no 80 04 prefix)");
  }
  try {
    return JSON.parse(decoder.decode(payload.subarray(JSON_PREFIX.length)));
  } catch (e) {
    throw new PayloadError(`malformed JSON body: ${e.message}`);
  }
}

/** `value` (null, boolean, number, string, Uint8Array, array, plain object) as multicodec CBOR. */
export function encodeCbor(value) {
  const out = [...CBOR_PREFIX];
  cborPut(out, value);
  return Uint8Array.from(out);
}

/** The value of a multicodec CBOR payload; throws PayloadError otherwise. */
export function decodeCbor(payload) {
  if (!startsWith(payload, CBOR_PREFIX)) {
    throw new PayloadError("not a multicodec CBOR payload (no 51 prefix)");
  }
  const view = new DataView(payload.buffer, payload.byteOffset, payload.byteLength);
  let value, end;
  try {
    [value, end] = cborGet(payload, view, CBOR_PREFIX.length);
  } catch (e) {
    // DataView reads past the end throw RangeError: a truncated value.
    if (e instanceof RangeError) throw new PayloadError(`truncated CBOR value: ${e.message}`);
    throw e;
  }
  if (end !== payload.length) {
    throw new PayloadError(`${payload.length - end} byte(s) after the CBOR value`);
  }
  return value;
}

/** The value of a JSON or CBOR payload, by its prefix; throws PayloadError otherwise. */
export function decode(payload) {
  if (startsWith(payload, JSON_PREFIX)) return decodeJson(payload);
  if (startsWith(payload, CBOR_PREFIX)) return decodeCbor(payload);
  throw new PayloadError("no JSON or CBOR multicodec prefix");
}

function cborHead(out, major, n) {
  if (n < 24) {
    out.push((major << 5) | n);
  } else if (n < 0x100) {
    out.push((major << 5) | 24, n);
  } else if (n < 0x10000) {
    out.push((major << 5) | 25, n >> 8, n & 0xff);
  } else if (n < 0x100000000) {
    out.push((major << 5) | 26, (n >>> 24) & 0xff, (n >>> 16) & 0xff, (n >>> 8) & 0xff, n & 0xff);
  } else {
    const big = BigInt(n);
    out.push((major << 5) | 27);
    for (let shift = 56n; shift >= 0n; shift -= 8n) out.push(Number((big >> shift) & 0xffn));
  }
}

function cborPut(out, value) {
  if (value === null || value === undefined) {
    out.push(0xf6);
  } else if (value === true) {
    out.push(0xf5);
  } else if (value === false) {
    out.push(0xf4);
  } else if (typeof value === "number") {
    if (Number.isSafeInteger(value)) {
      if (value >= 0) cborHead(out, 0, value);
      else cborHead(out, 1, -1 - value);
    } else {
      const bytes = new Uint8Array(8);
      new DataView(bytes.buffer).setFloat64(0, value);
      out.push(0xfb, ...bytes);
    }
  } else if (typeof value === "string") {
    const bytes = encoder.encode(value);
    cborHead(out, 3, bytes.length);
    out.push(...bytes);
  } else if (value instanceof Uint8Array) {
    cborHead(out, 2, value.length);
    out.push(...value);
  } else if (Array.isArray(value)) {
    cborHead(out, 4, value.length);
    for (const item of value) cborPut(out, item);
  } else if (typeof value === "object") {
    const entries = Object.entries(value);
    cborHead(out, 5, entries.length);
    for (const [key, item] of entries) {
      cborPut(out, key);
      cborPut(out, item);
    }
  } else {
    throw new PayloadError(`cannot encode a ${typeof value} as CBOR`);
  }
}

function cborGet(bytes, view, at) {
  if (at >= bytes.length) throw new PayloadError("truncated CBOR value");
  const first = bytes[at++];
  const major = first >> 5;
  const info = first & 0x1f;
  if (major === 7) {
    switch (info) {
      case 20: return [false, at];
      case 21: return [true, at];
      case 22: return [null, at];
      case 26: return [view.getFloat32(at), at + 4];
      case 27: return [view.getFloat64(at), at + 8];
      default: throw new PayloadError(`unsupported CBOR simple value ${info}`);
    }
  }
  let n;
  if (info < 24) {
    n = info;
  } else if (info === 24) {
    n = view.getUint8(at); at += 1;
  } else if (info === 25) {
    n = view.getUint16(at); at += 2;
  } else if (info === 26) {
    n = view.getUint32(at); at += 4;
  } else if (info === 27) {
    n = Number(view.getBigUint64(at)); at += 8;
  } else {
    throw new PayloadError("indefinite-length CBOR items are not supported");
  }
  switch (major) {
    case 0: return [n, at];
    case 1: return [-1 - n, at];
    case 2:
    case 3: {
      if (at + n > bytes.length) throw new PayloadError("truncated CBOR string");
      const chunk = bytes.slice(at, at + n);
      return [major === 2 ? chunk : decoder.decode(chunk), at + n];
    }
    case 4: {
      const items = [];
      for (let i = 0; i < n; i++) {
        let item;
        [item, at] = cborGet(bytes, view, at);
        items.push(item);
      }
      return [items, at];
    }
    case 5: {
      const entries = {};
      for (let i = 0; i < n; i++) {
        let key, item;
        [key, at] = cborGet(bytes, view, at);
        [item, at] = cborGet(bytes, view, at);
        entries[key] = item;
      }
      return [entries, at];
    }
    default: throw new PayloadError(`unsupported CBOR major type ${major} (tags)`);
  }
}
