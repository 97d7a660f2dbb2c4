// `package push`: a directory (as a reproducible tar+gzip) or an existing tar/tar.gz/tar.zst,
// published as an ORAS-style artifact:
//   artifactType  application/vnd.download-package.package.v1
//   config        the empty descriptor, application/vnd.oci.empty.v1+json, digest of "{}"
//   layers        one, with org.opencontainers.image.title
// Blobs go up monolithically (POST, then PUT ?digest=), skipped when HEAD finds them; then the
// manifest is PUT under the tag. The same directory gives the same manifest digest.

import { createHash } from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { Readable, Transform, Writable } from "node:stream";
import { pipeline } from "node:stream/promises";
import zlib from "node:zlib";
import { detectFormat } from "../../archive/detect.ts";
import { DownloadError, fromFsError, UsageError } from "../../errors.ts";
import { bytesField, type Logger } from "../../log.ts";
import { MEDIA, TITLE } from "./manifest.ts";
import { formatReference, type OciReference } from "./reference.ts";
import type { RegistrySession } from "./session.ts";
import { archiveTime, listTree, tarStream } from "./tar-writer.ts";

export const ARTIFACT_TYPE = "application/vnd.download-package.package.v1";
const EMPTY = Buffer.from("{}");
const sha256 = (b: Buffer) => `sha256:${createHash("sha256").update(b).digest("hex")}`;

export interface Layer {
  file: string;
  mediaType: string;
  digest: string;
  size: number;
  title: string;
  /** A temporary file of ours, removed after the push. */
  temporary: boolean;
}

/** Hash and count the bytes on their way to the file. */
function hashing(): { stream: Transform; result: () => { digest: string; size: number } } {
  const h = createHash("sha256");
  let size = 0;
  const stream = new Transform({
    transform(chunk: Buffer, _e, cb) {
      h.update(chunk);
      size += chunk.length;
      cb(null, chunk);
    },
  });
  return { stream, result: () => ({ digest: `sha256:${h.digest("hex")}`, size }) };
}

/** The directory as a reproducible .tar.gz in a temporary file (gzip header without time or name). */
export async function packDirectory(dir: string, env: NodeJS.ProcessEnv): Promise<Layer> {
  const entries = listTree(dir);
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "download-package-push-"));
  const file = path.join(tmp, "package.tar.gz");
  const h = hashing();
  try {
    await pipeline(Readable.from(tarStream(entries, archiveTime(env))), zlib.createGzip({ level: 9 }), h.stream, fs.createWriteStream(file, { mode: 0o600 }));
  } catch (e) {
    fs.rmSync(tmp, { recursive: true, force: true });
    throw fromFsError(e, `packing ${dir}`);
  }
  const title = `${path.basename(path.resolve(dir)) || "package"}.tar.gz`;
  return { file, mediaType: MEDIA.layerGzip, ...h.result(), title, temporary: true };
}

/** An existing archive, pushed byte for byte; its media type from its magic bytes. */
export async function existingArchive(file: string): Promise<Layer> {
  const fd = fs.openSync(file, "r");
  const head = Buffer.alloc(512);
  const n = fs.readSync(fd, head, 0, 512, 0);
  fs.closeSync(fd);
  const format = detectFormat(head.subarray(0, n));
  const mediaType = format === "gzip" ? MEDIA.layerGzip : format === "zstd" ? MEDIA.layerZstd : format === "tar" ? MEDIA.layerTar : undefined;
  if (!mediaType) throw new UsageError(`${file} is not a tar, tar.gz or tar.zst (${format})`, "push a directory, or a .tar / .tar.gz / .tar.zst archive");
  const h = hashing();
  await pipeline(fs.createReadStream(file), h.stream, new Writable({ write: (_c, _e, cb) => cb() }));
  return { file, mediaType, ...h.result(), title: path.basename(file), temporary: false };
}

export function buildManifest(layer: Pick<Layer, "mediaType" | "digest" | "size" | "title">, env: NodeJS.ProcessEnv): Buffer {
  const manifest: Record<string, unknown> = {
    schemaVersion: 2,
    mediaType: MEDIA.ociManifest,
    artifactType: ARTIFACT_TYPE,
    config: { mediaType: MEDIA.empty, digest: sha256(EMPTY), size: EMPTY.length, data: EMPTY.toString("base64") },
    layers: [{ mediaType: layer.mediaType, digest: layer.digest, size: layer.size, annotations: { [TITLE]: layer.title } }],
  };
  // A creation time only when the build pins one: otherwise the digest would change every push.
  if (env.SOURCE_DATE_EPOCH) manifest.annotations = { "org.opencontainers.image.created": new Date(archiveTime(env) * 1000).toISOString().replace(/\.000Z$/, "Z") };
  return Buffer.from(JSON.stringify(manifest));
}

function pushFailed(s: RegistrySession, what: string, status: number): DownloadError {
  return new DownloadError(`the registry ${s.ref.registry} answered HTTP ${status} while pushing ${what}`, {
    status,
    retryable: false,
    hint: status === 403 ? "the credentials have no push permission on this repository" : status === 401 ? "check the registry credentials" : "check the registry's logs; the repository name and the registry's storage",
  });
}

/** HEAD, else POST + monolithic PUT. Returns true when the blob was uploaded, false when it was there. */
async function uploadBlob(s: RegistrySession, digest: string, size: number, body: () => Buffer | Readable, log: Logger): Promise<boolean> {
  const head = await s.send({ method: "HEAD", url: s.url(`/v2/${s.ref.repository}/blobs/${digest}`) });
  if (head.status === 200) return false;
  const start = await s.send({ method: "POST", url: s.url(`/v2/${s.ref.repository}/blobs/uploads/`), headers: { "content-length": "0" } });
  if (start.status !== 202 || !start.headers.location) throw pushFailed(s, "a blob (starting the upload)", start.status);
  const put = s.url(start.headers.location);
  put.searchParams.set("digest", digest);
  log.info("uploading", { digest, size: bytesField(size) });
  const done = await s.send({ method: "PUT", url: put, headers: { "content-type": "application/octet-stream", "content-length": String(size) }, body });
  if (done.status !== 201) throw pushFailed(s, `the blob ${digest}`, done.status);
  return true;
}

/** Push the layer, the empty config and the manifest. Returns the manifest's digest. */
export async function pushArtifact(s: RegistrySession, layer: Layer, env: NodeJS.ProcessEnv, log: Logger): Promise<{ digest: string; reference: string }> {
  const ref: OciReference = s.ref;
  if (ref.tag && ref.digest) throw new UsageError("push to a tag or to a digest, not both", "write oci://REGISTRY/REPO:TAG");
  await uploadBlob(s, sha256(EMPTY), EMPTY.length, () => EMPTY, log);
  const uploaded = await uploadBlob(s, layer.digest, layer.size, () => fs.createReadStream(layer.file), log);
  if (!uploaded) log.info("the layer is already in the registry", { digest: layer.digest });
  const manifest = buildManifest(layer, env);
  const digest = sha256(manifest);
  if (ref.digest && ref.digest !== digest) throw new UsageError(`the manifest's digest is ${digest}, not ${ref.digest}`, "push to a tag");
  const res = await s.send({ method: "PUT", url: s.url(`/v2/${ref.repository}/manifests/${ref.tag ?? digest}`), headers: { "content-type": MEDIA.ociManifest }, body: () => manifest });
  if (res.status !== 201) throw pushFailed(s, "the manifest", res.status);
  return { digest, reference: formatReference({ ...ref, digest }) };
}
