// Filled in by scripts/build.mjs (esbuild define); "dev" when run from source.
declare const __VERSION__: string | undefined;
declare const __REVISION__: string | undefined;

export const VERSION = typeof __VERSION__ === "string" ? __VERSION__ : "dev";
export const REVISION = typeof __REVISION__ === "string" ? __REVISION__ : "unknown";

/** How this process was packaged: a pkg executable, a Node single-executable application, or a plain bundle/source. */
export async function packaging(): Promise<string> {
  if ((process as { pkg?: unknown }).pkg) return "pkg executable";
  try {
    const sea = await import("node:sea");
    if (sea.isSea()) return "node single-executable (fallback packager)";
  } catch {
    /* not available */
  }
  return "node script";
}
