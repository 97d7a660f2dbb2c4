// Reading manifests and image indexes, choosing the platform and the package layer. Pure.

import { ArchiveError, DownloadError, UsageError } from "../../errors.ts";

export const MEDIA = {
  ociManifest: "application/vnd.oci.image.manifest.v1+json",
  ociIndex: "application/vnd.oci.image.index.v1+json",
  dockerManifest: "application/vnd.docker.distribution.manifest.v2+json",
  dockerList: "application/vnd.docker.distribution.manifest.list.v2+json",
  empty: "application/vnd.oci.empty.v1+json",
  layerTar: "application/vnd.oci.image.layer.v1.tar",
  layerGzip: "application/vnd.oci.image.layer.v1.tar+gzip",
  layerZstd: "application/vnd.oci.image.layer.v1.tar+zstd",
} as const;

/** Sent on every manifest request: we read OCI and Docker schema 2, manifests and indexes. */
export const MANIFEST_ACCEPT = [MEDIA.ociManifest, MEDIA.ociIndex, MEDIA.dockerManifest, MEDIA.dockerList].join(", ");

export const TITLE = "org.opencontainers.image.title";

/** Layer media types that hold a tar stream (the format is still decided by magic bytes). */
const TAR_TYPES = new Set<string>([
  MEDIA.layerTar,
  MEDIA.layerGzip,
  MEDIA.layerZstd,
  "application/vnd.docker.image.rootfs.diff.tar.gzip",
  "application/vnd.docker.image.rootfs.diff.tar",
  "application/tar",
  "application/x-tar",
  "application/gzip",
  "application/x-gzip",
  "application/zstd",
]);
const TAR_TITLE = /\.(tar|tgz|tar\.gz|tar\.zst|tzst)$/i;

export interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
  annotations?: Record<string, string>;
  platform?: { os?: string; architecture?: string; variant?: string };
  artifactType?: string;
}

export type Parsed = { kind: "index"; manifests: Descriptor[] } | { kind: "manifest"; layers: Descriptor[]; artifactType?: string; configType?: string };

export interface Platform {
  os: string;
  architecture: string;
  variant?: string;
}

const DIGEST = /^(sha256:[0-9a-f]{64}|sha512:[0-9a-f]{128})$/;

function badManifest(what: string): DownloadError {
  return new DownloadError(`the registry's manifest is not usable: ${what}`, { retryable: false, hint: "the reference does not point at an OCI artifact or image; check it, or republish with download-package package push" });
}

function descriptor(d: unknown, where: string): Descriptor {
  const o = d as Partial<Descriptor> | null;
  if (!o || typeof o !== "object" || typeof o.mediaType !== "string" || typeof o.digest !== "string" || !DIGEST.test(o.digest) || typeof o.size !== "number" || o.size < 0)
    throw badManifest(`${where} is not a descriptor with mediaType, a sha256/sha512 digest and size`);
  return o as Descriptor;
}

/** mediaType from the body, else from Content-Type (Docker schema 2 carries both). */
export function parseManifest(body: Buffer, contentType: string | undefined): Parsed {
  let doc: Record<string, unknown>;
  try {
    doc = JSON.parse(body.toString("utf8"));
  } catch {
    throw badManifest("not JSON");
  }
  if (!doc || typeof doc !== "object") throw badManifest("not a JSON object");
  const type = (typeof doc.mediaType === "string" ? doc.mediaType : contentType?.split(";")[0].trim()) ?? "";
  if (doc.schemaVersion !== 2) throw badManifest(`schemaVersion ${JSON.stringify(doc.schemaVersion)} (only 2 is supported)`);
  if (type === MEDIA.ociIndex || type === MEDIA.dockerList || (!type && Array.isArray(doc.manifests))) {
    if (!Array.isArray(doc.manifests)) throw badManifest("an index without manifests");
    return { kind: "index", manifests: doc.manifests.map((m, i) => descriptor(m, `manifests[${i}]`)) };
  }
  if (!Array.isArray(doc.layers)) throw badManifest(`media type ${JSON.stringify(type)} has no layers`);
  const config = doc.config as { mediaType?: string } | undefined;
  return { kind: "manifest", layers: doc.layers.map((l, i) => descriptor(l, `layers[${i}]`)), artifactType: typeof doc.artifactType === "string" ? doc.artifactType : undefined, configType: config?.mediaType };
}

const ARCH: Record<string, string> = { x64: "amd64", ia32: "386", arm64: "arm64", arm: "arm", ppc64: "ppc64le", s390x: "s390x", riscv64: "riscv64", loong64: "loong64", mips: "mips", mipsel: "mipsle" };

/** The platform this process runs on, in OCI terms (linux/amd64). */
export function nodePlatform(arch = process.arch, os = process.platform): Platform {
  return { os: os === "win32" ? "windows" : os, architecture: ARCH[arch] ?? arch };
}

/** "os/arch[/variant]"; empty text → undefined (use the node's). */
export function parsePlatform(text: string): Platform | undefined {
  if (!text.trim()) return undefined;
  const p = text.trim().toLowerCase().split("/");
  if (p.length < 2 || p.length > 3 || p.some((x) => !/^[a-z0-9_.-]+$/.test(x)))
    throw new UsageError(`PACKAGE_PLATFORM ${JSON.stringify(text)} is not os/architecture[/variant]`, "write it as docker does, e.g. linux/amd64 or linux/arm64/v8");
  return { os: p[0], architecture: p[1], variant: p[2] };
}

export const formatPlatform = (p: Platform) => [p.os, p.architecture, p.variant].filter(Boolean).join("/");

/** The index entry for the platform; an index of artifacts without platforms works when it has one entry. */
export function choosePlatform(manifests: Descriptor[], want: Platform): Descriptor {
  const candidates = manifests.filter((m) => m.platform?.os === want.os && m.platform?.architecture === want.architecture);
  const exact = candidates.find((m) => want.variant === undefined || m.platform?.variant === want.variant || (want.variant === "v8" && !m.platform?.variant));
  if (exact) return exact;
  if (manifests.length === 1 && !manifests[0].platform) return manifests[0];
  const offered = manifests.map((m) => (m.platform ? formatPlatform(m.platform as Platform) : "(no platform)")).join(", ");
  throw new ArchiveError(`the image index has no manifest for ${formatPlatform(want)} (it has: ${offered || "nothing"})`, "set PACKAGE_PLATFORM to one the index has, or push the package for this platform");
}

/** The package layer: the one PACKAGE_OCI_LAYER names (media type or title), else the only tar-like one. */
export function chooseLayer(layers: Descriptor[], wanted: string): Descriptor {
  const describe = () => layers.map((l) => `${l.annotations?.[TITLE] ?? "(untitled)"} ${l.mediaType}`).join("; ") || "no layers";
  if (wanted) {
    const named = layers.filter((l) => l.annotations?.[TITLE] === wanted || l.mediaType === wanted);
    if (named.length === 1) return named[0];
    throw new ArchiveError(
      named.length ? `PACKAGE_OCI_LAYER ${JSON.stringify(wanted)} matches ${named.length} layers` : `no layer matches PACKAGE_OCI_LAYER ${JSON.stringify(wanted)} (the manifest has: ${describe()})`,
      "set PACKAGE_OCI_LAYER to one layer's org.opencontainers.image.title annotation or media type",
    );
  }
  const usable = layers.filter((l) => TAR_TYPES.has(l.mediaType) || TAR_TITLE.test(l.annotations?.[TITLE] ?? ""));
  if (usable.length === 1) return usable[0];
  if (usable.length === 0) throw new ArchiveError(`the artifact has no tar, tar+gzip or tar+zstd layer (it has: ${describe()})`, "publish the package as one tar/tar.gz/tar.zst layer (download-package package push), or name the layer with PACKAGE_OCI_LAYER");
  throw new ArchiveError(`the artifact has ${usable.length} package layers (${describe()})`, "choose one with PACKAGE_OCI_LAYER (its org.opencontainers.image.title or media type)");
}
