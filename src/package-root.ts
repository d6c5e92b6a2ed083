// The package's own files (package.json, wasm/, docs/openapi.json) sit beside src/ when run with
// tsx and beside dist/ when run compiled, so they are found from this module's location, not
// from the working directory: an installed package runs from anywhere.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

export const PACKAGE_ROOT = fileURLToPath(new URL("../", import.meta.url));

/** The absolute path of a file shipped with the package, e.g. "docs/openapi.json". */
export function packageFile(relativePath: string): string {
  return join(PACKAGE_ROOT, relativePath);
}

let version: string | undefined;

/** package.json's "version". */
export function packageVersion(): string {
  version ??= (JSON.parse(readFileSync(packageFile("package.json"), "utf8")) as { version: string }).version;
  return version;
}
