// What an image archive really holds: the image ID (the digest of its config, computed here
// from the bytes, not read from a name), the names it would give itself on load, and, for an
// OCI layout (what export writes), the registry manifest it carries, every blob checked
// against its own digest. Import and push compare these with index.json before a runtime or a
// registry sees the file.

import { createHash } from "node:crypto";
import { pipeline } from "node:stream/promises";
import { Parser, type ReadEntry } from "tar";
import { normalizeRef } from "./refs.ts";
import { FileProblem, regularStream } from "./store.ts";

export interface ArchiveImage {
  /** sha256:<hex> of the config blob's bytes. */
  id: string;
  repoTags: string[];
  /** Present for an OCI layout: the manifest digest index.json names, and the names it gives. */
  layout?: { manifest: string; names: string[] };
}

/** Every regular entry's sha256, and the text of the small JSON ones (manifests, configs, indexes). */
export interface Entries {
  hashes: Map<string, string>;
  texts: Map<string, string>;
}

const KEEP = 1 << 20; // manifests, indexes and configs are small; layers are only hashed

export async function readEntries(file: string, signal?: AbortSignal): Promise<Entries> {
  const hashes = new Map<string, string>();
  const texts = new Map<string, string>();
  const parser = new Parser({
    onReadEntry: (entry: ReadEntry) => {
      const name = entry.path.replace(/^\.\//, "");
      if (entry.type !== "File") return entry.resume();
      const h = createHash("sha256");
      const chunks: Buffer[] = [];
      const keep = entry.size <= KEEP;
      entry.on("data", (d: Buffer) => {
        h.update(d);
        if (keep) chunks.push(d);
      });
      entry.on("end", () => {
        hashes.set(name, h.digest("hex"));
        const text = keep ? Buffer.concat(chunks) : undefined;
        if (text && (name.endsWith(".json") || text[0] === 0x7b)) texts.set(name, text.toString("utf8"));
      });
    },
  });
  try {
    await pipeline(regularStream(file), parser, { signal });
  } catch (e) {
    if (e instanceof FileProblem || signal?.aborted) throw e;
    throw new FileProblem(`not a readable image archive: ${(e as Error).message}`);
  }
  return { hashes, texts };
}

export async function inspectArchive(file: string, signal?: AbortSignal): Promise<ArchiveImage> {
  const e = await readEntries(file, signal);
  const image = describe(e.texts.get("manifest.json") ?? "", e.hashes);
  return e.texts.has("index.json") ? { ...image, layout: describeLayout(e) } : image;
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

interface Doc {
  manifests?: { digest?: unknown; annotations?: Record<string, unknown> }[];
  config?: { digest?: unknown };
  layers?: { digest?: unknown }[];
}

function parse(text: string | undefined, what: string): Doc {
  try {
    return JSON.parse(text ?? "") as Doc;
  } catch {
    throw new FileProblem(`${what} in the archive is missing or not JSON`);
  }
}

/**
 * Pure: an OCI layout's one manifest, with every blob matching its digest and every blob the
 * manifest (or index) names present. A damaged or altered archive is refused here.
 */
export function describeLayout(e: Entries): { manifest: string; names: string[] } {
  for (const [name, hex] of e.hashes) {
    const m = /^blobs\/sha256\/([0-9a-f]{64})$/.exec(name);
    if (name.startsWith("blobs/") && (!m || m[1] !== hex)) throw new FileProblem(`${name} does not match its digest: the archive is corrupted or altered`);
  }
  const index = parse(e.texts.get("index.json"), "index.json");
  if (!Array.isArray(index.manifests) || index.manifests.length !== 1) throw new FileProblem(`the archive's index.json names ${Array.isArray(index.manifests) ? index.manifests.length : "no"} images, expected exactly 1`);
  const top = index.manifests[0];
  const present = (d: unknown) => typeof d === "string" && e.hashes.has(`blobs/${d.replace(":", "/")}`);
  const walk = (digest: unknown, depth: number) => {
    if (!present(digest)) throw new FileProblem(`the archive lacks ${String(digest)}, which its manifest names`);
    const doc = parse(e.texts.get(`blobs/${String(digest).replace(":", "/")}`), `manifest ${String(digest)}`);
    if (Array.isArray(doc.manifests) && depth < 2) return doc.manifests.forEach((m) => walk(m.digest, depth + 1));
    for (const d of [doc.config, ...(doc.layers ?? [])]) if (!present(d?.digest)) throw new FileProblem(`the archive lacks ${String(d?.digest)}, which its manifest names`);
  };
  walk(top.digest, 0);
  const name = top.annotations?.["io.containerd.image.name"];
  return { manifest: String(top.digest), names: typeof name === "string" ? [normalizeRef(name)] : [] };
}
