// The exported directory: one <name>_<tag>.tar.gz per image, SHA256SUMS, and index.json.

import { createHash } from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import { pipeline } from "node:stream/promises";

export interface IndexEntry {
  ref: string;
  file: string;
  size: number;
  /** The image ID (config digest) and, when the registry gave one, the repository digest. */
  id: string;
  digest?: string;
  platform: string;
}

export const SUMS = "SHA256SUMS";
export const INDEX = "index.json";

export async function sha256File(file: string): Promise<string> {
  const h = createHash("sha256");
  await pipeline(fs.createReadStream(file), h);
  return h.digest("hex");
}

export function readSums(dir: string): Map<string, string> {
  const sums = new Map<string, string>();
  const f = path.join(dir, SUMS);
  if (!fs.existsSync(f)) return sums;
  for (const line of fs.readFileSync(f, "utf8").split("\n")) {
    const m = /^([0-9a-f]{64})\s+\*?(.+)$/.exec(line.trim());
    if (m) sums.set(m[2], m[1]);
  }
  return sums;
}

export function writeSums(dir: string, sums: Map<string, string>) {
  const text = [...sums].sort((a, b) => a[0].localeCompare(b[0])).map(([f, h]) => `${h}  ${f}\n`).join("");
  fs.writeFileSync(path.join(dir, `${SUMS}.tmp`), text);
  fs.renameSync(path.join(dir, `${SUMS}.tmp`), path.join(dir, SUMS));
}

export function readIndex(dir: string): IndexEntry[] {
  try {
    return JSON.parse(fs.readFileSync(path.join(dir, INDEX), "utf8")) as IndexEntry[];
  } catch {
    return [];
  }
}

export function writeIndex(dir: string, entries: IndexEntry[]) {
  const sorted = [...entries].sort((a, b) => a.ref.localeCompare(b.ref));
  fs.writeFileSync(path.join(dir, `${INDEX}.tmp`), JSON.stringify(sorted, null, 2) + "\n");
  fs.renameSync(path.join(dir, `${INDEX}.tmp`), path.join(dir, INDEX));
}
