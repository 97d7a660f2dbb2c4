// What the archive has created in the staging directory so far (directories, files,
// symlinks and their targets), and symlink resolution over it done the way the kernel
// does it: component by component, following every symlink met, '..' taken from the
// directory actually reached. Pure: the extractor keeps it in step with the disk.
// Directories and symlinks are never replaced (the extractor refuses it), so a link judged
// inside when it is made stays inside: names it goes through that do not exist yet can only
// become directories or links that are themselves judged, and '..' after them is refused.

import { RESERVED_ROOT_NAME } from "./entry-path.ts";

export type TreeNode = { kind: "dir" } | { kind: "file" } | { kind: "link"; target: string };

/** Where a symlink target leads, or why it is refused. */
export type Resolution = { ok: true; path: string } | { ok: false; reason: string };

/** Linux follows at most 40 symlinks in one path resolution, then fails with ELOOP. */
export const MAX_SYMLINK_FOLLOWS = 40;

const parts = (p: string) => p.split("/").filter((c) => c !== "" && c !== ".");
const join = (dir: string[], name: string) => (dir.length ? `${dir.join("/")}/${name}` : name);

export class StagingTree {
  private readonly nodes = new Map<string, TreeNode>([["", { kind: "dir" }]]);

  get(rel: string): TreeNode | undefined {
    return this.nodes.get(rel);
  }

  set(rel: string, node: TreeNode) {
    this.nodes.set(rel, node);
  }

  delete(rel: string) {
    this.nodes.delete(rel);
  }

  /**
   * Resolve `target` as a symlink living in directory `dir` would be resolved. A target may
   * name things that do not exist yet (links are often written before their targets), but
   * never '..' after such a name: what that name becomes later decides where '..' goes.
   */
  resolve(dir: string, target: string): Resolution {
    if (target === "") return { ok: false, reason: "is a symlink with an empty target" };
    if (target.startsWith("/")) return { ok: false, reason: `is a symlink whose target ${JSON.stringify(target)} leaves the destination (an absolute path)` };
    const cur = parts(dir);
    let pending = parts(target);
    let follows = 0;
    while (pending.length) {
      const c = pending.shift()!;
      if (c === "..") {
        if (cur.length === 0) return { ok: false, reason: `is a symlink whose target ${JSON.stringify(target)} leaves the destination` };
        cur.pop();
        continue;
      }
      const here = join(cur, c);
      const node = this.nodes.get(here);
      if (node?.kind === "link") {
        if (++follows > MAX_SYMLINK_FOLLOWS) return { ok: false, reason: `is a symlink whose target ${JSON.stringify(target)} is a symlink loop` };
        pending = [...parts(node.target), ...pending];
        continue;
      }
      if (node?.kind === "dir") {
        cur.push(c);
        continue;
      }
      // Missing, or a file with more components after it (ENOTDIR today; it may be replaced later).
      if (pending.includes("..")) return { ok: false, reason: `is a symlink whose target ${JSON.stringify(target)} goes through ${JSON.stringify(here)}, which is not a directory made earlier in the archive, then '..'` };
      cur.push(c, ...pending);
      break;
    }
    const path = cur.join("/");
    if (cur[0] === RESERVED_ROOT_NAME) return { ok: false, reason: `is a symlink into ${RESERVED_ROOT_NAME}, where this program keeps its state` };
    return { ok: true, path };
  }

  /** Record the link when its target resolves inside (with itself in place: `x -> x/y` is a loop). */
  addLink(rel: string, target: string): Resolution {
    this.nodes.set(rel, { kind: "link", target });
    const r = this.resolve(parentOf(rel), target);
    if (!r.ok) this.nodes.delete(rel);
    return r;
  }
}

export function parentOf(rel: string): string {
  const i = rel.lastIndexOf("/");
  return i < 0 ? "" : rel.slice(0, i);
}
