import { describe, expect, it } from "vitest";
import { safeReturnTo, signInLocation } from "../../src/ui/browser-sessions.js";

describe("signInLocation", () => {
  it("carries a same-origin path, encoded", () => {
    expect(signInLocation("/oauth/authorize?client_id=a&state=b%20c")).toBe("/ui/login?return_to=%2Foauth%2Fauthorize%3Fclient_id%3Da%26state%3Db%2520c");
    expect(signInLocation("/ui/tokens")).toBe("/ui/login?return_to=%2Fui%2Ftokens");
  });

  it("replaces anything that could leave the origin with the tokens page", () => {
    for (const bad of ["https://evil.example/", "//evil.example/x", "/\\evil.example", "javascript:alert(1)", "evil", "", "/a\nb", "/a b", `/${"a".repeat(2048)}`]) {
      expect(safeReturnTo(bad)).toBeNull();
      expect(signInLocation(bad)).toBe("/ui/login?return_to=%2Fui%2Ftokens");
    }
  });
});
