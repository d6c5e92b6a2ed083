import { describe, expect, it } from "vitest";
import { checkCsrf, csrfToken } from "../../src/ui/csrf.js";

const alice = { userId: "alice", sessionId: "s".repeat(43) };

describe("CSRF tokens", () => {
  it("accepts the session's own token", () => {
    expect(checkCsrf(alice, csrfToken(alice))).toBe(true);
    expect(csrfToken(alice)).toBe(csrfToken({ ...alice }));
  });

  it("refuses another session's, another user's, a missing or a malformed token", () => {
    expect(checkCsrf(alice, csrfToken({ userId: "alice", sessionId: "t".repeat(43) }))).toBe(false);
    expect(checkCsrf(alice, csrfToken({ userId: "bob", sessionId: alice.sessionId }))).toBe(false);
    for (const bad of [undefined, null, "", 42, ["x"], csrfToken(alice).slice(1), `${csrfToken(alice)}x`]) expect(checkCsrf(alice, bad)).toBe(false);
  });
});
