import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { scopesHash } from "../../src/upstreams/scopes-hash.js";

describe("scopesHash", () => {
  it("ignores order and repetition", () => {
    expect(scopesHash(["b", "a", "b"])).toBe(scopesHash(["a", "b"]));
    fc.assert(
      fc.property(fc.array(fc.string()), fc.integer(), (scopes, seed) => {
        const shuffled = [...scopes, ...scopes.slice(0, 2)].sort(() => ((seed = (seed * 16807) % 2147483647) % 3) - 1);
        expect(scopesHash(shuffled)).toBe(scopesHash(scopes));
      }),
    );
  });

  it("is safe against boundary-join collisions", () => {
    expect(scopesHash(["a b", "c"])).not.toBe(scopesHash(["a", "b c"]));
    expect(scopesHash(["a,b"])).not.toBe(scopesHash(["a", "b"]));
    expect(scopesHash(['a","b'])).not.toBe(scopesHash(["a", "b"]));
    expect(scopesHash([""])).not.toBe(scopesHash([]));
  });

  it("differs for different sets", () => {
    fc.assert(
      fc.property(fc.uniqueArray(fc.string()), fc.uniqueArray(fc.string()), (a, b) => {
        fc.pre(JSON.stringify([...a].sort()) !== JSON.stringify([...b].sort()));
        expect(scopesHash(a)).not.toBe(scopesHash(b));
      }),
    );
  });
});
