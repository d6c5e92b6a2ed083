import { describe, expect, it } from "vitest";
import { LogThrottle } from "../src/log-throttle.js";

describe("LogThrottle", () => {
  it("lets one line per key per interval through, and the next one counts those held back", () => {
    let now = 1_000;
    const t = new LogThrottle(60_000, () => now);
    expect(t.take("unavailable:mongodb")).toEqual({ held: 0 });
    expect(t.take("unavailable:mongodb")).toBeNull();
    expect(t.take("unavailable:mongodb")).toBeNull();
    expect(t.take("unavailable:redis")).toEqual({ held: 0 }); // keys apart
    now += 59_999;
    expect(t.take("unavailable:mongodb")).toBeNull();
    now += 1;
    expect(t.take("unavailable:mongodb")).toEqual({ held: 3 });
    expect(t.take("unavailable:mongodb")).toBeNull();
  });
});
