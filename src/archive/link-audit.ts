// The second line of defence against symlink escapes: after extraction, every symlink in
// the staging tree is resolved by the real filesystem (realpath), independently of the
// extractor's own model, and must land inside the tree and outside the program's state.

import fs from "node:fs";
import path from "node:path";
import { RESERVED_ROOT_NAME } from "./entry-path.ts";

export interface LinkFinding {
  /** The symlink, relative to the root. */
  link: string;
  reason: string;
}

/** The first symlink under `root` that resolves outside it (or into its state name), if any. */
export function findEscapingSymlink(root: string): LinkFinding | undefined {
  const realRoot = fs.realpathSync.native(root);
  const dirs = [""];
  while (dirs.length) {
    const rel = dirs.pop()!;
    for (const d of fs.readdirSync(path.join(root, rel), { withFileTypes: true })) {
      const r = rel ? `${rel}/${d.name}` : d.name;
      if (d.isDirectory()) dirs.push(r);
      else if (d.isSymbolicLink()) {
        const reason = judge(realRoot, path.join(root, r));
        if (reason) return { link: r, reason };
      }
    }
  }
  return undefined;
}

function judge(realRoot: string, full: string): string | undefined {
  const real = resolveLink(full);
  if (real === "loop") return "is a symlink loop";
  if (real === undefined) return `is a symlink to ${JSON.stringify(fs.readlinkSync(full))}, which goes through a name that does not exist, then '..'`;
  if (real !== realRoot && !real.startsWith(realRoot + "/")) return `is a symlink that resolves to ${real}, outside the destination`;
  const reserved = path.join(realRoot, RESERVED_ROOT_NAME);
  if (real === reserved || real.startsWith(reserved + "/")) return `is a symlink into ${RESERVED_ROOT_NAME}, where this program keeps its state`;
  return undefined;
}

/** The real path a symlink leads to; for a dangling one, the real path of its longest existing prefix plus the rest. */
function resolveLink(full: string): string | "loop" | undefined {
  try {
    return fs.realpathSync.native(full);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === "ELOOP") return "loop";
    if (code !== "ENOENT" && code !== "ENOTDIR") throw e;
  }
  const target = fs.readlinkSync(full);
  if (path.isAbsolute(target)) return path.normalize(target);
  const comps = target.split("/").filter((c) => c !== "" && c !== ".");
  const base = path.dirname(full);
  let prefix = fs.realpathSync.native(base);
  let i = 0;
  for (; i < comps.length; i++) {
    try {
      // Concatenated, not path.join: '..' must be taken after following links, as the kernel does.
      prefix = fs.realpathSync.native(`${base}/${comps.slice(0, i + 1).join("/")}`);
    } catch {
      break;
    }
  }
  const rest = comps.slice(i);
  return rest.includes("..") ? undefined : path.join(prefix, ...rest);
}
