// A chart as `helm pull` or `helm dependency build` leaves it: a directory (subcharts in charts/
// as directories or .tgz; .helmignore applied as helm applies it) or a .tgz. Read into memory for
// the renderer; nothing is executed.

import fs from "node:fs";
import path from "node:path";
import { UsageError } from "../../errors.ts";
import { FileProblem, openRegular } from "../store.ts";
import { ignored, parseHelmignore } from "./helmignore.ts";

export interface ChartSource {
  /** Relative name → bytes, for a directory chart. */
  files?: { name: string; data: Buffer }[];
  /** The .tgz itself. */
  archive?: Buffer;
}

const MAX_FILES = 20_000;
const MAX_BYTES = 256 * 1024 * 1024;
// Never chart content, and can be huge.
const SKIP_DIRS = new Set([".git", ".hg", ".svn"]);

/** A chart file's bytes: regular files only (a FIFO would block, /dev/zero never end), as a usage error. */
function readBytes(file: string, what: string): Buffer {
  let fd: number;
  try {
    fd = openRegular(file);
  } catch (e) {
    throw new UsageError(`--chart ${what}: ${e instanceof FileProblem ? e.message : (e as Error).message}`, "give a chart directory (with Chart.yaml) or a chart .tgz; every file in it must be a regular file");
  }
  try {
    if (fs.fstatSync(fd).size > MAX_BYTES) throw new UsageError(`--chart ${what}: larger than 256 MiB: not a chart?`);
    return fs.readFileSync(fd);
  } finally {
    fs.closeSync(fd);
  }
}

export function readChart(p: string): ChartSource {
  let st: fs.Stats;
  try {
    st = fs.statSync(p);
  } catch (e) {
    throw new UsageError(`--chart ${p}: ${(e as NodeJS.ErrnoException).code === "ENOENT" ? "no such file or directory" : (e as Error).message}`, "give a chart directory (with Chart.yaml) or a chart .tgz");
  }
  if (!st.isDirectory()) {
    const data = readBytes(p, p);
    if (data[0] !== 0x1f || data[1] !== 0x8b) throw new UsageError(`--chart ${p}: not a chart archive (not gzip)`, "give a chart directory (with Chart.yaml) or a chart .tgz as helm pull writes it");
    return { archive: data };
  }
  if (!fs.existsSync(path.join(p, "Chart.yaml"))) throw new UsageError(`--chart ${p}: no Chart.yaml in this directory`, "give the chart's own directory (the one holding Chart.yaml)");
  const files: { name: string; data: Buffer }[] = [];
  const ignoreFile = path.join(p, ".helmignore");
  const rules = parseHelmignore(fs.existsSync(ignoreFile) ? readBytes(ignoreFile, `${p}: .helmignore`).toString("utf8") : "");
  let total = 0;
  const walk = (dir: string, rel: string, depth: number) => {
    if (depth > 32) throw new UsageError(`--chart ${p}: directories nested deeper than 32 levels (a symlink loop?)`);
    for (const e of fs.readdirSync(dir, { withFileTypes: true }).sort((a, b) => a.name.localeCompare(b.name))) {
      const full = path.join(dir, e.name);
      const name = rel ? `${rel}/${e.name}` : e.name;
      const s = e.isSymbolicLink() ? fs.statSync(full, { throwIfNoEntry: false }) : undefined;
      if (e.isDirectory() || s?.isDirectory()) {
        if (!SKIP_DIRS.has(e.name) && !ignored(rules, name, true)) walk(full, name, depth + 1);
      } else if ((e.isSymbolicLink() && !s) || ignored(rules, name, false)) {
        // a dangling symlink or an ignored file: not part of the chart
      } else {
        // Anything else is read as a regular file: a FIFO or a device in the chart is refused, never read.
        let data = readBytes(full, `${p}: ${name}`);
        if (data[0] === 0xef && data[1] === 0xbb && data[2] === 0xbf) data = data.subarray(3);
        total += data.length;
        if (files.length >= MAX_FILES || total > MAX_BYTES) throw new UsageError(`--chart ${p}: more than ${MAX_FILES} files or 256 MiB: not a chart directory?`);
        files.push({ name, data });
      }
    }
  };
  walk(p, "", 0);
  return { files };
}
