import { randomBytes } from "node:crypto";
import { describe, expect, it } from "vitest";
import { AesGcmSecretCipher, parseEncryptionKeys, SecretDecryptionError } from "../../src/upstreams/encryption.js";

const key = (kid: string) => ({ kid, key: randomBytes(32) });

describe("SecretCipher (AES-256-GCM)", () => {
  const a = key("a");
  const cipher = new AesGcmSecretCipher([a]);

  it("opens what it sealed, and seals the same secret differently each time", () => {
    const sealed = cipher.encrypt("top secret ✓", "record-1");
    expect(sealed).toMatch(/^v1\.a\.[\w-]+\.[\w-]+\.[\w-]+$/);
    expect(sealed).not.toContain("top secret");
    expect(cipher.decrypt(sealed, "record-1")).toBe("top secret ✓");
    expect(cipher.encrypt("top secret ✓", "record-1")).not.toBe(sealed);
    expect(cipher.decrypt(cipher.encrypt("", "r"), "r")).toBe("");
  });

  it("refuses another record's associated data, a tampered ciphertext, and what is not sealed", () => {
    const sealed = cipher.encrypt("secret", "record-1");
    expect(() => cipher.decrypt(sealed, "record-2")).toThrow(SecretDecryptionError);
    const parts = sealed.split(".");
    const body = Buffer.from(parts[3]!, "base64url");
    body[0]! ^= 1;
    parts[3] = body.toString("base64url");
    expect(() => cipher.decrypt(parts.join("."), "record-1")).toThrow(SecretDecryptionError);
    expect(() => cipher.decrypt("secret", "record-1")).toThrow(SecretDecryptionError);
    expect(() => cipher.decrypt(sealed.replace(/^v1/, "v2"), "record-1")).toThrow(SecretDecryptionError);
  });

  it("seals with the first key and opens with any, naming the key in the ciphertext", () => {
    const b = key("b");
    const old = cipher.encrypt("secret", "r");
    const rotated = new AesGcmSecretCipher([b, a]);
    expect(rotated.decrypt(old, "r")).toBe("secret");
    expect(rotated.encrypt("secret", "r")).toMatch(/^v1\.b\./);
    expect(() => new AesGcmSecretCipher([b]).decrypt(old, "r")).toThrow(/key "a"/);
    // The same kid with other key material: the tag does not verify.
    expect(() => new AesGcmSecretCipher([key("a")]).decrypt(old, "r")).toThrow(SecretDecryptionError);
  });
});

describe("TOLLGATE_ENCRYPTION_KEYS", () => {
  const b64 = (n: number) => randomBytes(n).toString("base64");

  it("parses kid:base64 entries in order", () => {
    const [k1, k2] = [b64(32), b64(32)];
    const problems: string[] = [];
    const keys = parseEncryptionKeys(` new:${k1} , old:${k2}`, problems);
    expect(problems).toEqual([]);
    expect(keys.map((k) => k.kid)).toEqual(["new", "old"]);
    expect(keys[0]!.key.equals(Buffer.from(k1, "base64"))).toBe(true);
  });

  it("reports every bad entry at once, never the key material", () => {
    const short = b64(16);
    const problems: string[] = [];
    parseEncryptionKeys(`a:${short},b:not base64!,:${b64(32)},c:${b64(32)},c:${b64(32)},nocolon`, problems);
    expect(problems).toHaveLength(5);
    expect(problems.join("\n")).not.toContain(short);
    expect(problems.join("\n")).toMatch(/"a" must be 32 bytes/);
    expect(problems.join("\n")).toMatch(/names "c" twice/);
  });
});
