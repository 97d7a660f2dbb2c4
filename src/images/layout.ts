// The exported file: an OCI image layout (oci-layout, index.json, blobs/sha256/…) holding the
// registry's own manifest and blobs byte for byte, plus a `docker save`-style manifest.json that
// points at the same blobs. One tar serves all three readers:
//   ctr images import   reads index.json: the image keeps its registry digest
//   docker load         (Docker 20.10 reads only manifest.json; compressed layers are accepted)
//   skopeo copy         oci-archive:FILE, --preserve-digests: the same manifest reaches a registry

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

/**
 * Turn skopeo's layout directory DIR into the exported file: name the image REF (for ctr import),
 * add manifest.json (for docker load), then tar+gzip it to FILE through FILE.tmp.
 * Returns the digest of the layout's manifest (what push puts into a registry).
 */
export async function writeLayoutArchive(dir: string, file: string, ref: string, platform: string, signal: AbortSignal): Promise<string> {
  const index = readJson<{ manifests?: Descriptor[] }>(path.join(dir, "index.json"));
  if (!Array.isArray(index.manifests) || index.manifests.length !== 1) throw new Error(`skopeo's layout holds ${index.manifests?.length ?? 0} images, expected 1`);
  const top = index.manifests[0];
  const n = normalizeRef(ref);
  top.annotations = { "io.containerd.image.name": n, "org.opencontainers.image.ref.name": tagOf(n) ?? n.split("@")[1] };
  fs.writeFileSync(path.join(dir, "index.json"), JSON.stringify(index));
  let image = readJson<ManifestDoc>(path.join(dir, blobPath(top.digest)));
  if (image.manifests) {
    const m = pickPlatform(image.manifests, platform);
    if (!m) throw new Error(`the registry's index has no image for ${platform}`);
    image = readJson<ManifestDoc>(path.join(dir, blobPath(m.digest)));
  }
  fs.writeFileSync(path.join(dir, "manifest.json"), dockerManifest(image, ref));
  const tmp = `${file}.tmp`;
  try {
    await pipeline(create({ gzip: true, cwd: dir, portable: true }, ["oci-layout", "index.json", "manifest.json", "blobs"]), fs.createWriteStream(tmp), { signal });
    fs.renameSync(tmp, file);
  } catch (e) {
    fs.rmSync(tmp, { force: true });
    throw e;
  }
  return top.digest;
}
