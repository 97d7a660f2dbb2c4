// Entry names judged before anything touches the disk. Pure.

export type PathVerdict = { ok: true; rel: string } | { ok: true; skip: true } | { ok: false; reason: string };

/** The install's state directory at the destination's root (STATE_DIR in src/install/installation.ts): never the archive's. */
export const RESERVED_ROOT_NAME = ".download-package";

/** Longest file name Linux filesystems take (NAME_MAX); a longer component fails with ENAMETOOLONG. */
export const NAME_MAX = 255;

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
  const long = kept.find((p) => Buffer.byteLength(p) > NAME_MAX);
  if (long !== undefined) return { ok: false, reason: `has a name component of ${Buffer.byteLength(long)} bytes, over the ${NAME_MAX}-byte limit of Linux filesystems (NAME_MAX)` };
  if (kept[0] === RESERVED_ROOT_NAME) return { ok: false, reason: `is named like ${RESERVED_ROOT_NAME}, where this program keeps its state at the root of the destination` };
  return { ok: true, rel: kept.join("/") };
}

/** Every proper ancestor of a relative path: "a/b/c" gives ["a", "a/b"]. */
export function ancestors(rel: string): string[] {
  const parts = rel.split("/");
  return parts.slice(0, -1).map((_, i) => parts.slice(0, i + 1).join("/"));
}
