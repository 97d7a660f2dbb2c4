// Entry names and link targets judged before anything touches the disk. Pure.

import path from "node:path/posix";

export type PathVerdict = { ok: true; rel: string } | { ok: true; skip: true } | { ok: false; reason: string };

/** Normalise an archive entry name to a path relative to the destination, or say why it is refused. */
export function entryPath(name: string, stripComponents: number, maxLength: number): PathVerdict {
  if (name.includes("\0")) return { ok: false, reason: "has a NUL byte in its name" };
  if (Buffer.byteLength(name) > maxLength) return { ok: false, reason: `has a path longer than ${maxLength} bytes (PACKAGE_MAX_PATH_LENGTH)` };
  if (name.startsWith("/")) return { ok: false, reason: "has an absolute path" };
  if (/^[a-zA-Z]:[\\/]/.test(name)) return { ok: false, reason: "has a Windows drive path" };
  const parts = name.split("/").filter((p) => p !== "" && p !== ".");
  if (parts.includes("..")) return { ok: false, reason: "has a '..' component that escapes the destination" };
  const kept = parts.slice(stripComponents);
  if (kept.length === 0) return { ok: true, skip: true };
  return { ok: true, rel: kept.join("/") };
}

/** Where a symlink at `rel` pointing at `target` resolves, relative to the destination; undefined if it leaves it. */
export function symlinkTarget(rel: string, target: string): string | undefined {
  if (target === "" || target.startsWith("/") || target.includes("\0")) return undefined;
  const resolved = path.normalize(path.join(path.dirname(rel), target));
  if (resolved === ".." || resolved.startsWith("../") || path.isAbsolute(resolved)) return undefined;
  return resolved === "." ? "" : resolved;
}

/** Every proper ancestor of a relative path: "a/b/c" gives ["a", "a/b"]. */
export function ancestors(rel: string): string[] {
  const parts = rel.split("/");
  return parts.slice(0, -1).map((_, i) => parts.slice(0, i + 1).join("/"));
}
