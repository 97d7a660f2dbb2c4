// A reproducible tar of a directory: the same tree gives the same bytes on any machine.
// Entries sorted by path, parents first; mtime SOURCE_DATE_EPOCH or 0; uid/gid 0 and no
// user or group names; modes normalised (directories 0755, files 0755 when any execute bit
// is set, else 0644; symlinks 0777); hardlinked files are stored as plain files; PAX records
// only for what ustar cannot hold (long paths, huge sizes). A top-level .download-package (the
// marker of an installed destination) is left out.

import fs from "node:fs";
import path from "node:path";
import { UsageError } from "../../errors.ts";
import { STATE_DIR } from "../../install/installation.ts";

export interface TarEntry {
  /** Relative path, "/"-separated; directories end in "/". */
  name: string;
  type: "file" | "dir" | "symlink";
  mode: number;
  size: number;
  linkname?: string;
  /** Absolute path on disk, for file content. */
  source?: string;
}

const BLOCK = 512;
const MAX_OCTAL_SIZE = 0o77777777777;

/** Every entry under dir, in the archive's order. Special files are refused, naming them. */
export function listTree(dir: string): TarEntry[] {
  const out: TarEntry[] = [];
  const walk = (rel: string) => {
    const names = fs.readdirSync(path.join(dir, rel)).sort((a, b) => (Buffer.from(a) < Buffer.from(b) ? -1 : a === b ? 0 : 1));
    for (const name of names) {
      if (!rel && name === STATE_DIR) continue; // an installed destination's marker is not package content
      const r = rel ? `${rel}/${name}` : name;
      const full = path.join(dir, r);
      const st = fs.lstatSync(full);
      if (st.isDirectory()) {
        out.push({ name: `${r}/`, type: "dir", mode: 0o755, size: 0 });
        walk(r);
      } else if (st.isFile()) out.push({ name: r, type: "file", mode: st.mode & 0o111 ? 0o755 : 0o644, size: st.size, source: full });
      else if (st.isSymbolicLink()) out.push({ name: r, type: "symlink", mode: 0o777, size: 0, linkname: fs.readlinkSync(full) });
      else throw new UsageError(`cannot pack ${r}: not a regular file, directory or symlink`, "remove sockets, FIFOs and device files from the directory before pushing it");
    }
  };
  walk("");
  return out;
}

function pax(records: Record<string, string>): Buffer {
  let body = "";
  for (const [k, v] of Object.entries(records)) {
    const rest = ` ${k}=${v}\n`;
    let len = Buffer.byteLength(rest) + 1;
    while (String(len).length + Buffer.byteLength(rest) !== len) len = String(len).length + Buffer.byteLength(rest);
    body += `${len}${rest}`;
  }
  return Buffer.from(body);
}

function header(name: string, type: string, mode: number, size: number, mtime: number, linkname = ""): Buffer {
  const h = Buffer.alloc(BLOCK);
  const put = (off: number, len: number, s: string) => h.write(s, off, len, "utf8");
  const octal = (off: number, len: number, n: number) => put(off, len, n.toString(8).padStart(len - 1, "0") + "\0");
  put(0, 100, name);
  octal(100, 8, mode);
  octal(108, 8, 0);
  octal(116, 8, 0);
  octal(124, 12, size);
  octal(136, 12, mtime);
  put(148, 8, "        ");
  put(156, 1, type);
  put(157, 100, linkname);
  put(257, 8, "ustar\u000000");
  let sum = 0;
  for (const b of h) sum += b;
  put(148, 8, sum.toString(8).padStart(6, "0") + "\0 ");
  return h;
}

const padding = (size: number) => Buffer.alloc((BLOCK - (size % BLOCK)) % BLOCK);

/** The header block(s) of one entry: a PAX header first when ustar's fields are too small. */
export function entryHeader(e: TarEntry, mtime: number): Buffer {
  const records: Record<string, string> = {};
  if (Buffer.byteLength(e.name) > 100) records.path = e.name;
  if (e.linkname !== undefined && Buffer.byteLength(e.linkname) > 100) records.linkpath = e.linkname;
  if (e.size > MAX_OCTAL_SIZE) records.size = String(e.size);
  const type = e.type === "dir" ? "5" : e.type === "symlink" ? "2" : "0";
  const main = header(records.path ? e.name.slice(0, 99) : e.name, type, e.mode, records.size ? 0 : e.size, mtime, records.linkpath ? "" : (e.linkname ?? ""));
  if (Object.keys(records).length === 0) return main;
  const body = pax(records);
  return Buffer.concat([header("PaxHeader", "x", 0o644, body.length, mtime), body, padding(body.length), main]);
}

/** SOURCE_DATE_EPOCH (seconds) when set, else 0. */
export function archiveTime(env: NodeJS.ProcessEnv): number {
  const v = env.SOURCE_DATE_EPOCH?.trim();
  if (!v) return 0;
  if (!/^\d+$/.test(v)) throw new UsageError(`SOURCE_DATE_EPOCH ${JSON.stringify(v)} is not a number of seconds`, "set it to a Unix time, e.g. $(git log -1 --format=%ct)");
  return Number(v);
}

/** The tar stream of the entries, file contents read as they go. */
export async function* tarStream(entries: TarEntry[], mtime: number): AsyncGenerator<Buffer> {
  for (const e of entries) {
    yield entryHeader(e, mtime);
    if (e.type !== "file") continue;
    let read = 0;
    for await (const chunk of fs.createReadStream(e.source!, { highWaterMark: 256 * 1024 }) as AsyncIterable<Buffer>) {
      read += chunk.length;
      if (read > e.size) break;
      yield chunk;
    }
    if (read !== e.size) throw new UsageError(`${e.name} changed size while it was being packed`, "push a directory nothing is writing to");
    yield padding(e.size);
  }
  yield Buffer.alloc(BLOCK * 2);
}
