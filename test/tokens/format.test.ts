import { describe, expect, it } from "vitest";
import fc from "fast-check";
import * as zlib from "node:zlib";
import { createHash } from "node:crypto";
import {
  BASE62_ALPHABET,
  TOKEN_LENGTH,
  TOKEN_PREFIXES,
  generateToken,
  generateTokenId,
  hashToken,
  parseToken,
  randomBase62,
  type AnyTokenKind,
} from "../../src/tokens/format.js";
import { crc32, crc32Table } from "../../src/tokens/crc32.js";

const KINDS: AnyTokenKind[] = ["global", "project", "mcp", "temp", "oauth_access", "oauth_refresh"];
const kindArb = fc.constantFrom(...KINDS);

describe("generateToken / parseToken", () => {
  it.each(KINDS)("round-trips a %s token", (kind) => {
    const { value, hash } = generateToken(kind);
    expect(value.startsWith(TOKEN_PREFIXES[kind])).toBe(true);
    expect(value).toHaveLength(TOKEN_LENGTH);
    expect(value).toMatch(/^tg_(glb|prj|mcp|tmp|oat|ort)_[0-9A-Za-z]{49}$/);
    expect(parseToken(value)).toEqual({ kind });
    expect(hash).toBe(hashToken(value));
  });

  it("produces distinct values", () => {
    const values = new Set(Array.from({ length: 500 }, () => generateToken("global").value));
    expect(values.size).toBe(500);
  });

  it("rejects every single-character corruption (property)", () => {
    const alphabet = BASE62_ALPHABET + "_-+/=. $é\u0000";
    fc.assert(
      fc.property(kindArb, fc.nat(), fc.nat(), (kind, posSeed, charSeed) => {
        const { value } = generateToken(kind);
        const pos = posSeed % value.length;
        const candidates = [...alphabet].filter((c) => c !== value[pos]);
        const replacement = candidates[charSeed % candidates.length]!;
        const corrupted = value.slice(0, pos) + replacement + value.slice(pos + 1);
        expect(parseToken(corrupted)).toBeNull();
      }),
      { numRuns: 2000 },
    );
  });

  it("rejects every single-character corruption of one token, exhaustively over base62", () => {
    const { value } = generateToken("mcp");
    for (let pos = 0; pos < value.length; pos++) {
      for (const c of BASE62_ALPHABET) {
        if (c === value[pos]) continue;
        expect(parseToken(value.slice(0, pos) + c + value.slice(pos + 1)), `pos ${pos} -> ${c}`).toBeNull();
      }
    }
  });

  it("rejects a valid body under another or an unknown prefix", () => {
    const { value } = generateToken("global");
    const body = value.slice(7);
    expect(parseToken(TOKEN_PREFIXES.project + body)).toBeNull();
    expect(parseToken(TOKEN_PREFIXES.mcp + body)).toBeNull();
    expect(parseToken("tg_xyz_" + body)).toBeNull();
    expect(parseToken("TG_GLB_" + body)).toBeNull();
    expect(parseToken("ghp_abc" + body)).toBeNull();
  });

  it("rejects wrong lengths", () => {
    const { value } = generateToken("project");
    expect(parseToken(value.slice(0, -1))).toBeNull();
    expect(parseToken(value + "0")).toBeNull();
    expect(parseToken(value.slice(0, 7) + "0" + value.slice(7))).toBeNull();
    expect(parseToken("")).toBeNull();
    expect(parseToken(TOKEN_PREFIXES.project)).toBeNull();
    fc.assert(
      fc.property(fc.string({ maxLength: 120 }), (s) => {
        if (s.length !== TOKEN_LENGTH) expect(parseToken(s)).toBeNull();
      }),
    );
  });

  it("rejects non-base62 characters even with a matching checksum", () => {
    // A checksum over a body containing a non-base62 character is still not a token.
    const { value } = generateToken("global");
    for (const bad of ["_", "-", " ", "=", "+", "/", "é", "\n"]) {
      expect(parseToken(value.slice(0, 20) + bad + value.slice(21))).toBeNull();
    }
    expect(parseToken(value.replace(/.$/, "!"))).toBeNull();
  });

  it("rejects a secret outside the 32-byte range even with a correct checksum", () => {
    const prefix = TOKEN_PREFIXES.global;
    const secret = "z".repeat(43); // 62^43 - 1 > 2^256 - 1
    const sum = BigInt(crc32(prefix + secret));
    let check = "";
    for (let n = sum; check.length < 6; n /= 62n) check = BASE62_ALPHABET[Number(n % 62n)] + check;
    expect(parseToken(prefix + secret + check)).toBeNull();
  });

  it("rejects non-strings", () => {
    for (const v of [undefined, null, 42, {}, [], Buffer.from(generateToken("global").value)]) {
      expect(parseToken(v)).toBeNull();
    }
  });

  it("random strings with a valid prefix are rejected", () => {
    fc.assert(
      fc.property(kindArb, fc.string({ minLength: 49, maxLength: 49, unit: fc.constantFrom(...BASE62_ALPHABET) }), (kind, body) => {
        // The checksum matches by chance with probability 2^-32.
        expect(parseToken(TOKEN_PREFIXES[kind] + body)).toBeNull();
      }),
      { numRuns: 500 },
    );
  });
});

describe("hashToken", () => {
  it("is hex SHA-256 of the value", () => {
    const { value, hash } = generateToken("global");
    expect(hash).toMatch(/^[0-9a-f]{64}$/);
    expect(hash).toBe(createHash("sha256").update(value).digest("hex"));
  });

  it("hashes any string as its UTF-8 bytes, as createHash does", () => {
    fc.assert(
      fc.property(fc.string({ unit: "binary", maxLength: 80 }), (value) => {
        expect(hashToken(value)).toBe(createHash("sha256").update(value, "utf8").digest("hex"));
      }),
      { numRuns: 500 },
    );
    expect(hashToken("tg_\uD800é")).toBe(createHash("sha256").update("tg_\uD800é", "utf8").digest("hex"));
  });

  it("never contains the value or its secret", () => {
    fc.assert(
      fc.property(kindArb, (kind) => {
        const { value, hash } = generateToken(kind);
        expect(hash.includes(value)).toBe(false);
        expect(hash.includes(value.slice(7, 50))).toBe(false);
        expect(hash.toLowerCase().includes(value.slice(7, 50).toLowerCase())).toBe(false);
      }),
      { numRuns: 200 },
    );
  });
});

describe("crc32", () => {
  it("matches the known check value", () => {
    expect(crc32("123456789")).toBe(0xcbf43926);
    expect(crc32Table("123456789")).toBe(0xcbf43926);
    expect(crc32("")).toBe(0);
  });

  it("table implementation equals node:zlib where available", () => {
    const native = (zlib as { crc32?: (s: string) => number }).crc32;
    fc.assert(
      fc.property(fc.oneof(fc.string({ maxLength: 64 }), fc.uint8Array({ maxLength: 64 })), (data) => {
        expect(crc32Table(data)).toBe(crc32(data));
        if (native) expect(crc32Table(data)).toBe(native(data as string) >>> 0);
      }),
    );
    expect(crc32Table("tg_glb_é\u{1F600}")).toBe(crc32(Buffer.from("tg_glb_é\u{1F600}", "utf8")));
  });
});

describe("ids", () => {
  it("generateTokenId is tok_ + 20 base62 characters", () => {
    const ids = new Set(Array.from({ length: 200 }, generateTokenId));
    expect(ids.size).toBe(200);
    for (const id of ids) expect(id).toMatch(/^tok_[0-9A-Za-z]{20}$/);
  });

  it("randomBase62 is roughly uniform over the alphabet", () => {
    const s = randomBase62(62 * 400);
    const counts = new Map<string, number>();
    for (const c of s) counts.set(c, (counts.get(c) ?? 0) + 1);
    expect(counts.size).toBe(62);
    for (const n of counts.values()) expect(n).toBeGreaterThan(250);
  });
});

describe("parseToken: the secret is at most 256 bits", () => {
  const base62 = (n: bigint, width: number): string => {
    let out = "";
    for (; n > 0n; n /= 62n) out = BASE62_ALPHABET[Number(n % 62n)]! + out;
    return out.padStart(width, "0");
  };
  const token = (secret: bigint): string => {
    const head = `tg_glb_${base62(secret, 43)}`;
    return head + base62(BigInt(crc32(head)), 6);
  };
  it("accepts 2^256 − 1 and refuses 2^256 and above, checksum valid", () => {
    expect(parseToken(token((1n << 256n) - 1n))).toEqual({ kind: "global" });
    expect(parseToken(token(1n << 256n))).toBeNull();
    expect(parseToken(token((1n << 256n) + 12345n))).toBeNull();
    expect(parseToken(token(62n ** 43n - 1n))).toBeNull();
  });
});
