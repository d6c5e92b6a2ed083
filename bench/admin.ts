// The benchmarks' admin writes: a 503 (FerretDB slow to answer on a loaded machine) is retried a
// few times; any other failure stops the benchmark with the answer.
import { setTimeout as sleep } from "node:timers/promises";

export async function adminRequest(
  base: string,
  token: string,
  method: string,
  path: string,
  body?: object,
  onRetry: (what: string) => void = () => {},
): Promise<Response> {
  for (let attempt = 1; ; attempt++) {
    const res = await fetch(`${base}${path}`, {
      method,
      headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
      ...(body ? { body: JSON.stringify(body) } : {}),
    });
    if (res.status === 503 && attempt < 5) {
      await res.arrayBuffer();
      onRetry(`${method} ${path}: 503, retrying`);
      await sleep(500);
      continue;
    }
    if (res.status >= 300) throw new Error(`${method} ${path} on ${base}: ${res.status} ${await res.text()}`);
    return res;
  }
}
