// Kernel pseudo filesystems (/proc, /sys, cgroup, ...) cannot hold a package: files there are
// kernel interfaces. A destination on one is refused before anything is attempted.

import fs from "node:fs";
import path from "node:path";

const PSEUDO = new Set([
  "proc", "sysfs", "cgroup", "cgroup2", "devpts", "debugfs", "tracefs", "securityfs", "configfs", "pstore",
  "bpf", "mqueue", "fusectl", "binfmt_misc", "efivarfs", "nsfs", "selinuxfs", "rpc_pipefs", "hugetlbfs", "autofs",
]);

export interface Mount {
  mountPoint: string;
  fsType: string;
}

/** Mount points are written with octal escapes (\040 for a space). */
const unescape = (s: string) => s.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)));

/** Parse /proc/self/mountinfo: "ID PARENT MAJ:MIN ROOT MOUNTPOINT OPTS [OPTIONAL...] - FSTYPE SOURCE SUPEROPTS". */
export function parseMountInfo(text: string): Mount[] {
  const out: Mount[] = [];
  for (const line of text.split("\n")) {
    const fields = line.split(" ");
    const dash = fields.indexOf("-", 6);
    if (fields.length < 7 || dash < 0 || dash + 1 >= fields.length) continue;
    out.push({ mountPoint: unescape(fields[4]), fsType: fields[dash + 1] });
  }
  return out;
}

/** The mount holding `file` (an absolute, symlink-free path): the last-mounted longest prefix. */
export function mountOf(file: string, mounts: Mount[]): Mount | undefined {
  let best: Mount | undefined;
  for (const m of mounts) {
    const inside = m.mountPoint === "/" || file === m.mountPoint || file.startsWith(m.mountPoint + "/");
    if (inside && (!best || m.mountPoint.length >= best.mountPoint.length)) best = m;
  }
  return best;
}

export const isPseudoFsType = (fsType: string) => PSEUDO.has(fsType);

/** The deepest part of `dir` that exists, with symlinks resolved. */
function existingAncestor(dir: string): string {
  let p = path.resolve(dir);
  for (;;) {
    try {
      return fs.realpathSync(p);
    } catch {
      const up = path.dirname(p);
      if (up === p) return p;
      p = up;
    }
  }
}

/** The pseudo filesystem type `dir` lives on, or undefined (also when mountinfo cannot be read). */
export function pseudoFsOf(dir: string): string | undefined {
  let text: string;
  try {
    text = fs.readFileSync("/proc/self/mountinfo", "utf8");
  } catch {
    return undefined;
  }
  const m = mountOf(existingAncestor(dir), parseMountInfo(text));
  return m && isPseudoFsType(m.fsType) ? m.fsType : undefined;
}
