// The exported file: an OCI image layout (oci-layout, index.json, blobs/sha256/…) holding the
// registry's own manifest and blobs byte for byte, plus a `docker save`-style manifest.json that
// points at the same blobs. One tar serves all three readers:
//   ctr images import   reads index.json: the image keeps its registry digest
//   docker load         (Docker 20.10 reads only manifest.json; compressed layers are accepted)
//   skopeo copy         oci-archive:FILE, --preserve-digests: the same manifest reaches a registry

import { createHash } from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import { pipeline } from "node:stream/promises";
import { create } from "tar";
import { normalizeRef } from "./refs.ts";

interface Descriptor {
  mediaType?: string;
  digest: string;
  size?: number;
  annotations?: Record<string, string>;
  platform?: { os?: string; architecture?: string; variant?: string };
}

interface ManifestDoc {
  manifests?: Descriptor[];
  config?: Descriptor;
  layers?: Descriptor[];
}

export const blobPath = (digest: string) => `blobs/${digest.replace(":", "/")}`;

/** Pure: the image of an index for PLATFORM (os/arch[/variant]); a lone image is taken as is. */
export function pickPlatform(manifests: Descriptor[], platform: string): Descriptor | undefined {
  const [osName, arch, variant] = platform.split("/");
  const fits = manifests.filter((m) => m.platform?.os === osName && m.platform?.architecture === arch && (!variant || m.platform?.variant === variant));
  return fits[0] ?? (manifests.length === 1 ? manifests[0] : undefined);
}

/** Pure: the tag a reference carries, if any (docker.io/library/x:1@sha256:… → "1"). */
export function tagOf(ref: string): string | undefined {
  const nameTag = normalizeRef(ref).split("@")[0];
  const colon = nameTag.lastIndexOf(":");
  return colon > nameTag.lastIndexOf("/") ? nameTag.slice(colon + 1) : undefined;
}

/** Pure: manifest.json for docker load, from the platform image's manifest. Digest references get no RepoTags. */
export function dockerManifest(image: ManifestDoc, ref: string): string {
  if (!image.config || !Array.isArray(image.layers)) throw new Error("the registry's manifest has no config or layers: not an image");
  const n = normalizeRef(ref);
  const repoTags = n.includes("@") ? [] : [n];
  return JSON.stringify([{ Config: blobPath(image.config.digest), RepoTags: repoTags, Layers: image.layers.map((l) => blobPath(l.digest)) }]);
}

const readJson = <T>(file: string): T => JSON.parse(fs.readFileSync(file, "utf8")) as T;
const sha256 = (b: Buffer) => `sha256:${createHash("sha256").update(b).digest("hex")}`;

/** Pure: a manifest's media type, from its own field or (OCI may omit it) its shape. */
export function mediaTypeOf(doc: { mediaType?: unknown; manifests?: unknown }): string {
  if (typeof doc.mediaType === "string") return doc.mediaType;
  return Array.isArray(doc.manifests) ? "application/vnd.oci.image.index.v1+json" : "application/vnd.oci.image.manifest.v1+json";
}

/**
 * skopeo's `dir:` copy (manifest.json, <hex>.manifest.json per platform of an index, <hex> per
 * blob: any manifest type, byte for byte) rearranged into an OCI layout in LAYOUT. Returns the
 * top manifest's descriptor. (skopeo's own `oci:` cannot hold a Docker manifest list unconverted.)
 */
export function layoutFromDir(dir: string, layout: string): Descriptor {
  fs.mkdirSync(path.join(layout, "blobs/sha256"), { recursive: true });
  let top: Descriptor | undefined;
  for (const f of fs.readdirSync(dir)) {
    const m = /^(?:([0-9a-f]{64})(\.manifest\.json)?|manifest\.json)$/.exec(f);
    if (!m) continue; // version, signatures
    const bytes = fs.readFileSync(path.join(dir, f));
    const digest = m[1] ? `sha256:${m[1]}` : sha256(bytes);
    if (m[1] && m[2] && sha256(bytes) !== digest) throw new Error(`skopeo wrote ${f} with another digest`);
    fs.renameSync(path.join(dir, f), path.join(layout, blobPath(digest)));
    if (f === "manifest.json") top = { mediaType: mediaTypeOf(JSON.parse(bytes.toString("utf8"))), digest, size: bytes.length };
  }
  if (!top) throw new Error("skopeo wrote no manifest");
  return top;
}

/**
 * Turn skopeo's `dir:` copy DIR into the exported file: an OCI layout naming the image REF (for
 * ctr import), manifest.json (for docker load), tar+gzip to FILE through FILE.tmp.
 * Returns the digest of the manifest it carries (what push puts into a registry).
 */
export async function writeLayoutArchive(dir: string, file: string, ref: string, platform: string, signal: AbortSignal): Promise<string> {
  const layout = path.join(dir, "layout");
  const top = layoutFromDir(dir, layout);
  const n = normalizeRef(ref);
  top.annotations = { "io.containerd.image.name": n, "org.opencontainers.image.ref.name": tagOf(n) ?? n.split("@")[1] };
  fs.writeFileSync(path.join(layout, "oci-layout"), JSON.stringify({ imageLayoutVersion: "1.0.0" }));
  fs.writeFileSync(path.join(layout, "index.json"), JSON.stringify({ schemaVersion: 2, mediaType: "application/vnd.oci.image.index.v1+json", manifests: [top] }));
  let image = readJson<ManifestDoc>(path.join(layout, blobPath(top.digest)));
  if (image.manifests) {
    const m = pickPlatform(image.manifests, platform);
    if (!m) throw new Error(`the registry's index has no image for ${platform}`);
    image = readJson<ManifestDoc>(path.join(layout, blobPath(m.digest)));
  }
  fs.writeFileSync(path.join(layout, "manifest.json"), dockerManifest(image, ref));
  const tmp = `${file}.tmp`;
  try {
    await pipeline(create({ gzip: true, cwd: layout, portable: true }, ["oci-layout", "index.json", "manifest.json", "blobs"]), fs.createWriteStream(tmp), { signal });
    fs.renameSync(tmp, file);
  } catch (e) {
    fs.rmSync(tmp, { force: true });
    throw e;
  }
  return top.digest;
}
