// CRC-32 (IEEE 802.3, the zlib/PNG polynomial). node:zlib exports crc32 from Node 20.15 / 22.2;
// older Node 20 releases get the table implementation below, which computes the same function.
import * as zlib from "node:zlib";

let table: Uint32Array | undefined;

function makeTable(): Uint32Array {
  const t = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c >>> 0;
  }
  return t;
}

/** Table-driven CRC-32 over the UTF-8 bytes of `data`. Exported for the equivalence test. */
export function crc32Table(data: string | Uint8Array): number {
  const bytes = typeof data === "string" ? Buffer.from(data, "utf8") : data;
  table ??= makeTable();
  let crc = 0xffffffff;
  for (const b of bytes) crc = table[(crc ^ b) & 0xff]! ^ (crc >>> 8);
  return (crc ^ 0xffffffff) >>> 0;
}

const native = (zlib as { crc32?: (data: string | Uint8Array) => number }).crc32;

/** CRC-32 of the UTF-8 bytes of `data`, as an unsigned 32-bit integer. */
export function crc32(data: string | Uint8Array): number {
  return typeof native === "function" ? native(data) >>> 0 : crc32Table(data);
}
