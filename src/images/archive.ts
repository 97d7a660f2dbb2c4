// What a `docker save` archive really holds: the image ID (the digest of its config, computed
// here from the bytes, not read from a name) and the names it would give itself on load.
// Import compares these with index.json before the runtime sees the file.

import { createHash } from "node:crypto";
import { pipeline } from "node:stream/promises";
import { Parser, type ReadEntry } from "tar";
import { FileProblem, regularStream } from "./store.ts";

export interface ArchiveImage {
  /** sha256:<hex> of the config blob's bytes. */
  id: string;
  repoTags: string[];
}

const SMALL = 4 << 20; // configs and manifest.json are small; layers are only skipped over

export async function inspectArchive(file: string, signal?: AbortSignal): Promise<ArchiveImage> {
  const hashes = new Map<string, string>();
  let manifest = "";
  const parser = new Parser({
    onReadEntry: (entry: ReadEntry) => {
      const name = entry.path.replace(/^\.\//, "");
      if (entry.type !== "File" || entry.size > SMALL) return entry.resume();
      const h = createHash("sha256");
      const chunks: Buffer[] = [];
      entry.on("data", (d: Buffer) => {
        h.update(d);
        if (name === "manifest.json") chunks.push(d);
      });
      entry.on("end", () => {
        hashes.set(name, h.digest("hex"));
        if (name === "manifest.json") manifest = Buffer.concat(chunks).toString("utf8");
      });
    },
  });
  try {
    await pipeline(regularStream(file), parser, { signal });
  } catch (e) {
    if (e instanceof FileProblem || signal?.aborted) throw e;
    throw new FileProblem(`not a readable image archive: ${(e as Error).message}`);
  }
  return describe(manifest, hashes);
}

/** The one image of manifest.json, its config hashed. Pure, for the tests. */
export function describe(manifest: string, hashes: Map<string, string>): ArchiveImage {
  if (!manifest) throw new FileProblem("not an image archive (no manifest.json)");
  let list: unknown;
  try {
    list = JSON.parse(manifest);
  } catch {
    throw new FileProblem("manifest.json in the archive is not JSON");
  }
  if (!Array.isArray(list) || list.length !== 1) throw new FileProblem(`the archive holds ${Array.isArray(list) ? list.length : "no list of"} images, expected exactly 1`);
  const m = list[0] as { Config?: unknown; RepoTags?: unknown };
  const config = typeof m?.Config === "string" ? m.Config.replace(/^\.\//, "") : "";
  const hash = hashes.get(config);
  if (!hash) throw new FileProblem(`the archive's config ${JSON.stringify(config)} is missing`);
  const repoTags = Array.isArray(m.RepoTags) ? m.RepoTags.filter((t): t is string => typeof t === "string") : [];
  return { id: `sha256:${hash}`, repoTags };
}
