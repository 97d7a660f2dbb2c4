// The exported directory: one .tar.gz per image, SHA256SUMS, and index.json. Only regular
// files are ever read: every open is non-blocking and checked with fstat on the same
// descriptor, so a FIFO, a device (/dev/zero) or a directory named *.tar.gz is refused, not read.

import { createHash } from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import { pipeline } from "node:stream/promises";
import { writeFileAtomic } from "../util/atomic-file.ts";
import { parseSumsExact } from "../verify/sums.ts";

export interface IndexEntry {
  ref: string;
  file: string;
  size: number;
  /** The image ID: the digest of the image's config, what import compares with the archive and the runtime. */
  id: string;
  /** The registry's manifest digest for this reference, when the registry gave one. */
  digest?: string;
  /** The digest of the registry manifest the archive carries (an OCI layout): what push puts into a
   * registry and what containerd names. Absent for a `docker save` archive (--use-local). */
  manifest?: string;
  platform: string;
}

export const SUMS = "SHA256SUMS";
export const INDEX = "index.json";

/** A refusal to read a file, with the reason a table row shows. */
export class FileProblem extends Error {}

/** Open a regular file for reading (following a symlink to one); anything else is a FileProblem. */
export function openRegular(file: string): number {
  let fd: number;
  try {
    fd = fs.openSync(file, fs.constants.O_RDONLY | fs.constants.O_NONBLOCK);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new FileProblem(code === "ENOENT" ? "missing (or a dangling symlink)" : `cannot open: ${code ?? e}`);
  }
  const st = fs.fstatSync(fd);
  if (!st.isFile()) {
    fs.closeSync(fd);
    const kind = st.isDirectory() ? "a directory" : st.isFIFO() ? "a FIFO" : st.isCharacterDevice() || st.isBlockDevice() ? "a device" : "not a regular file";
    throw new FileProblem(`${kind}, not a regular file`);
  }
  return fd;
}

export function readRegular(file: string, maxBytes = 64 << 20): string {
  const fd = openRegular(file);
  try {
    if (fs.fstatSync(fd).size > maxBytes) throw new FileProblem(`larger than ${maxBytes} bytes`);
    return fs.readFileSync(fd, "utf8");
  } finally {
    fs.closeSync(fd);
  }
}

export function regularStream(file: string): fs.ReadStream {
  return fs.createReadStream("", { fd: openRegular(file) });
}

export async function sha256File(file: string, signal?: AbortSignal): Promise<string> {
  const h = createHash("sha256");
  await pipeline(regularStream(file), h, { signal });
  return h.digest("hex");
}

/** SHA256SUMS, as `sha256sum -c` reads it (src/verify/sums.ts): name → lowercase hex. */
export function parseSums(text: string): Map<string, string> {
  return new Map(parseSumsExact(text).map((r) => [r.name, r.hex]));
}

export function readSums(dir: string): Map<string, string> {
  const f = path.join(dir, SUMS);
  if (!fs.existsSync(f)) return new Map();
  return parseSums(readRegular(f));
}

export function writeSums(dir: string, sums: Map<string, string>) {
  const text = [...sums].sort((a, b) => a[0].localeCompare(b[0])).map(([f, h]) => `${h}  ${f}\n`).join("");
  writeFileAtomic(path.join(dir, SUMS), text);
}

/** index.json as written by export; anything else (not a list, entries without ref/file/id) is a FileProblem. */
export function parseIndex(text: string): IndexEntry[] {
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch (e) {
    throw new FileProblem(`index.json is not JSON: ${(e as Error).message}`);
  }
  if (!Array.isArray(data)) throw new FileProblem("index.json is not a list of images");
  return data.map((e, i) => {
    const o = e as Partial<IndexEntry> | null;
    if (!o || typeof o !== "object" || typeof o.ref !== "string" || typeof o.file !== "string" || typeof o.id !== "string") {
      throw new FileProblem(`index.json entry ${i} lacks ref, file or id`);
    }
    return { ref: o.ref, file: o.file, size: Number(o.size ?? 0), id: o.id, digest: typeof o.digest === "string" ? o.digest : undefined, manifest: typeof o.manifest === "string" ? o.manifest : undefined, platform: String(o.platform ?? "") };
  });
}

export function readIndex(dir: string): IndexEntry[] {
  const f = path.join(dir, INDEX);
  if (!fs.existsSync(f)) return [];
  return parseIndex(readRegular(f));
}

export function writeIndex(dir: string, entries: IndexEntry[]) {
  const sorted = [...entries].sort((a, b) => a.ref.localeCompare(b.ref));
  writeFileAtomic(path.join(dir, INDEX), JSON.stringify(sorted, null, 2) + "\n");
}

