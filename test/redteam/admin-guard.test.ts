// Red-team cases for the admin guard's failed-authentication limit (10 a minute per client):
// one client must not get a fresh budget by naming itself another way.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { send, startGateway, type Gateway } from "../gateway/helpers.js";

let gw: Gateway;
beforeAll(async () => {
  // Behind a trusted proxy (loopback), X-Forwarded-For names the client.
  gw = await startGateway({ TOLLGATE_TRUSTED_PROXIES: "loopback" });
});
afterAll(async () => {
  await gw?.close();
});

const guess = async (from: string): Promise<number> =>
  (await send(gw.url, "/v1/admin/tokens/x", { headers: { "X-Forwarded-For": from, Authorization: "Bearer a-wrong-guess-0123456789" } })).status;

describe("the failure limit per client", () => {
  // An IPv6 client holds a whole /64 (SLAAC, privacy addresses): one budget per /128 gave it
  // 2^64 budgets. And one address has many spellings (case, leading zeros, ::, IPv4-mapped).
  it("an IPv6 client's /64 shares one budget", async () => {
    const statuses: number[] = [];
    for (let i = 1; i <= 11; i++) statuses.push(await guess(`2001:db8:1:2::${i.toString(16)}`));
    expect(statuses).toEqual([...Array<number>(10).fill(401), 429]);
    expect(await guess("2001:db8:1:2:ffff:ffff:ffff:ffff")).toBe(429);
    expect(await guess("2001:db8:1:3::1")).toBe(401); // the next /64 is another client
  });

  it("the spellings of one address share one budget", async () => {
    const spellings = ["2001:db8:9::1", "2001:DB8:9::1", "2001:0db8:0009:0000:0000:0000:0000:0001", "2001:db8:9:0::1"];
    const statuses: number[] = [];
    for (let i = 0; i < 11; i++) statuses.push(await guess(spellings[i % spellings.length]!));
    expect(statuses).toEqual([...Array<number>(10).fill(401), 429]);
    const mapped: number[] = [];
    for (let i = 0; i < 11; i++) mapped.push(await guess(i % 2 ? "198.51.100.9" : "::ffff:198.51.100.9"));
    expect(mapped).toEqual([...Array<number>(10).fill(401), 429]);
  });
});
