// Filesystem steps the installation needs that Node's own helpers get wrong for us:
// creating a path without `recursive: true` (which loops forever where mkdir answers
// ENOENT, as on /proc), moving and removing trees whose directories are read-only (a
// non-root user cannot rename a 0555 directory into another parent, nor empty it).

import fs from "node:fs";
import path from "node:path";

const OWNER_RWX = 0o700;
const OWNER_W = 0o200;

/** mkdir -p, one component at a time: a component that cannot be created is an error, never a retry. */
export function ensureDir(dir: string, mode = 0o755): void {
  const missing: string[] = [];
  let p = path.resolve(dir);
  for (;;) {
    try {
      if (fs.statSync(p).isDirectory()) break;
      throw Object.assign(new Error(`ENOTDIR: not a directory, mkdir '${p}'`), { code: "ENOTDIR", path: p });
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== "ENOENT") throw e;
      const up = path.dirname(p);
      if (up === p) throw e;
      missing.push(p);
      p = up;
    }
  }
  for (const m of missing.reverse()) {
    try {
      fs.mkdirSync(m, { mode });
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== "EEXIST") throw e; // another run made it first
    }
  }
}

/**
 * Rename `from` to `to`. Moving a directory to another parent rewrites its "..", which needs
 * write permission on the directory itself: a read-only directory is made owner-writable
 * just for the rename and given its mode back right after.
 */
export function renameKeepingMode(from: string, to: string): void {
  const st = fs.lstatSync(from);
  const lift = st.isDirectory() && (st.mode & OWNER_W) === 0 && process.getuid?.() !== 0;
  if (!lift) return fs.renameSync(from, to);
  fs.chmodSync(from, (st.mode & 0o7777) | OWNER_W);
  let moved = false;
  try {
    fs.renameSync(from, to);
    moved = true;
  } finally {
    fs.chmodSync(moved ? to : from, st.mode & 0o7777);
  }
}

/** Give every directory under `root` (root included, symlinks never followed) u+rwx so that rm can empty it. */
export async function makeRemovable(root: string): Promise<void> {
  const pending = [root];
  while (pending.length) {
    const dir = pending.pop()!;
    let st: fs.Stats;
    try {
      st = await fs.promises.lstat(dir);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === "ENOENT") continue;
      throw e;
    }
    if (!st.isDirectory()) continue;
    if ((st.mode & OWNER_RWX) !== OWNER_RWX) await fs.promises.chmod(dir, (st.mode & 0o7777) | OWNER_RWX);
    for (const d of await fs.promises.readdir(dir, { withFileTypes: true })) {
      if (d.isDirectory()) pending.push(path.join(dir, d.name));
    }
  }
}

/** rm -rf that also works on trees with read-only directories (whatever left them so). */
export async function removeTree(root: string): Promise<void> {
  await makeRemovable(root);
  await fs.promises.rm(root, { recursive: true, force: true });
}
