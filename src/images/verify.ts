// The checks every file of an exported directory passes before a runtime or a registry sees it:
// a regular file, listed in SHA256SUMS with the same hash, described in index.json, and holding
// exactly the image index.json recorded (its config digest, and the registry manifest when it
// carries one, every blob matching its digest) under no other name.

import fs from "node:fs";
import path from "node:path";
import { inspectArchive } from "./archive.ts";
import { normalizeRef } from "./refs.ts";
import { errorText, type Row } from "./report.ts";
import { FileProblem, INDEX, parseIndex, readRegular, readSums, sha256File, SUMS, type IndexEntry } from "./store.ts";
import { UsageError } from "../errors.ts";

export interface Candidate {
  file: string;
  entry?: IndexEntry;
}

export interface Directory {
  candidates: Candidate[];
  sums: Map<string, string>;
  /** Rows for SHA256SUMS or index.json themselves, when they are unusable. */
  problems: Row[];
}

/** What DIR holds: every .tar/.tar.gz and every file index.json names. Never throws for odd contents. */
export async function readDirectory(dir: string, signal?: AbortSignal): Promise<Directory> {
  let st: fs.Stats;
  try {
    st = fs.statSync(dir);
  } catch {
    throw new UsageError(`${dir} does not exist`, "pass --from the directory that images export wrote");
  }
  if (!st.isDirectory()) throw new UsageError(`${dir} is not a directory`, "pass --from the directory that images export wrote, not a file in it");
  const problems: Row[] = [];
  let sums = new Map<string, string>();
  try {
    sums = readSums(dir);
    if (sums.size === 0) problems.push({ image: "", file: SUMS, result: "failed", detail: "missing or empty: no file can be verified" });
  } catch (e) {
    problems.push({ image: "", file: SUMS, result: "failed", detail: errorText(e) });
  }
  let entries: IndexEntry[] = [];
  try {
    const want = sums.get(INDEX);
    if (want && (await sha256File(path.join(dir, INDEX), signal)) !== want) throw new FileProblem("checksum mismatch against SHA256SUMS");
    entries = parseIndex(readRegular(path.join(dir, INDEX)));
  } catch (e) {
    if (signal?.aborted) throw e;
    problems.push({ image: "", file: INDEX, result: "failed", detail: errorText(e) });
  }
  // One file per reference and one reference per file: anything else would hide an image.
  const clash = (e: IndexEntry) => entries.filter((o) => o !== e && (o.file === e.file || normalizeRef(o.ref) === normalizeRef(e.ref)));
  for (const e of entries.filter((x) => clash(x).length)) {
    problems.push({ image: e.ref, file: e.file, result: "failed", detail: `index.json also lists ${clash(e).map((o) => `${o.ref} (${o.file})`).join(", ")}: ambiguous, refused` });
  }
  const refused = new Set(problems.map((p) => p.file));
  const byFile = new Map(entries.filter((e) => !clash(e).length).map((e) => [e.file, e]));
  let listing: string[];
  try {
    listing = fs.readdirSync(dir);
  } catch (e) {
    throw new UsageError(`cannot read ${dir}: ${(e as NodeJS.ErrnoException).code ?? e}`, "make the directory readable by this user");
  }
  const names = new Set(listing.filter((f) => /\.tar(\.gz)?$/.test(f)));
  for (const e of entries) names.add(e.file);
  const candidates = [...names].filter((f) => !refused.has(f)).sort().map((file) => ({ file, entry: byFile.get(file) }));
  return { candidates, sums, problems };
}

/** Verify one file; returns the problem text, or undefined when it may be loaded. */
export async function verifyFile(dir: string, c: Candidate, sums: Map<string, string>, signal?: AbortSignal): Promise<string | undefined> {
  if (!c.entry) return "not in index.json: no reference or image ID to check it against";
  if (c.file.includes("/") || c.file.startsWith(".")) return "index.json names a file outside the directory";
  const want = sums.get(c.file);
  if (!want) return "not listed in SHA256SUMS";
  const full = path.join(dir, c.file);
  if ((await sha256File(full, signal)) !== want) return "checksum mismatch against SHA256SUMS";
  const held = await inspectArchive(full, signal);
  if (held.id !== c.entry.id) return `the archive holds image ${held.id}, index.json says ${c.entry.id}`;
  const ref = normalizeRef(c.entry.ref);
  const foreign = [...held.repoTags, ...(held.layout?.names ?? [])].map(normalizeRef).filter((t) => t !== ref);
  if (foreign.length) return `the archive would also name ${foreign.join(", ")}: refused`;
  if (c.entry.manifest && held.layout?.manifest !== c.entry.manifest) return `the archive carries manifest ${held.layout?.manifest ?? "none (not an OCI layout)"}, index.json says ${c.entry.manifest}`;
  return undefined;
}
