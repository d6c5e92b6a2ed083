// PRIVATE COPY of the ui helper's contract (issue 11, "Shared contract"): the ui branch owns
// this file and replaces it at merge. Only the exported signatures are the contract.
import { createHmac, randomBytes, timingSafeEqual } from "node:crypto";
import type { BrowserUser } from "./browser-sessions.js";

const KEY = randomBytes(32);

export function csrfToken(user: BrowserUser): string {
  return createHmac("sha256", KEY).update(`${user.userId}\n${user.sessionId}`).digest("base64url");
}

export function checkCsrf(user: BrowserUser, token: unknown): boolean {
  if (typeof token !== "string") return false;
  const expected = Buffer.from(csrfToken(user));
  const got = Buffer.from(token);
  return got.length === expected.length && timingSafeEqual(got, expected);
}
