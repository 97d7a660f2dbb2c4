// oci:// in front of the ordinary transfer: reference → manifest (→ the platform's manifest
// in an index) → the package layer → its blob URL on each mirror, the registry's credentials
// for that origin only, and the layer digest as the expected checksum. The blob itself is then
// fetched by src/transfer/fetch.ts like any package (resume, retries, proxies, transports).

import { createHash } from "node:crypto";
import { AppError, DownloadError, IntegrityError } from "../../errors.ts";
import { Installation, type Marker } from "../../install/installation.ts";
import type { Logger } from "../../log.ts";
import type { AuthProvider } from "../origin-headers.ts";
import type { TlsSettings } from "../transports/types.ts";
import { formatDigest, parseExpectedDigest, sameDigest } from "../../verify/digest.ts";
import { credentialsFor, type CredentialSources } from "./auth.ts";
import { RegistryHttp } from "./http.ts";
import { chooseLayer, choosePlatform, formatPlatform, MANIFEST_ACCEPT, nodePlatform, parseManifest, parsePlatform, TITLE, type Descriptor, type Platform } from "./manifest.ts";
import { formatReference, isOciUrl, manifestReference, parseReference, type OciReference } from "./reference.ts";
import { RegistrySession, type Actions } from "./session.ts";

/** What oci:// resolution reads from the program's options (src/cli/config.ts's Config has them all). */
export interface OciOptions {
  urls: string[];
  dest: string;
  force: boolean;
  /** The user's expected digest ("" = none): must be the layer's. */
  sha256: string;
  platform: string;
  ociLayer: string;
  registryConfig: string;
  basicAuthFile: string;
  tokenFile: string;
  plainHttp: boolean;
  connectTimeout: number;
  idleTimeout: number;
  retries: number;
  backoffBase: number;
  backoffMax: number;
}

/** What the ordinary transfer then downloads: the layer's blob URLs and digest; the credentials are in OciPlan.auth. */
export type BlobSource = Pick<OciOptions, "urls" | "tokenFile" | "basicAuthFile" | "sha256"> & { checksumUrl: string };

export interface OciContext {
  config: OciOptions;
  env: NodeJS.ProcessEnv;
  log: Logger;
  signal: AbortSignal;
}

export interface OciPlan {
  /** Replaces the run's urls, sha256 (the layer digest) and checksum URL, and clears its credentials. */
  source: BlobSource;
  /** For the marker: each reference with the manifest digest it resolved to (a pinned re-run then needs no request). */
  references: string[];
  /** Per blob URL, its registry's session: the credentials for that origin only, a token renewed when it expires. */
  auth: Map<string, AuthProvider>;
  /** Close the registry connections, once the blob's transfer is over (it may renew tokens). */
  close(): Promise<void>;
}

export const digestOf = (body: Buffer, algorithm = "sha256") => `${algorithm}:${createHash(algorithm).update(body).digest("hex")}`;

export function registryHttp(ctx: OciContext, tls: TlsSettings): RegistryHttp {
  const c = ctx.config;
  return new RegistryHttp({ tls, env: ctx.env, connectTimeout: c.connectTimeout, idleTimeout: c.idleTimeout, retries: c.retries, backoffBase: c.backoffBase, backoffMax: c.backoffMax, signal: ctx.signal, log: ctx.log });
}

export function openSession(ref: OciReference, config: Pick<OciOptions, "registryConfig" | "basicAuthFile" | "tokenFile" | "plainHttp">, http: RegistryHttp, actions: Actions, pushEnv?: NodeJS.ProcessEnv): RegistrySession {
  const sources: CredentialSources = { registryConfig: config.registryConfig, basicAuthFile: config.basicAuthFile, tokenFile: config.tokenFile, pushEnv };
  return new RegistrySession(ref, credentialsFor(ref.registry, sources), http, { plainHttp: config.plainHttp, actions });
}

/** GET a manifest (by tag or digest); a digest asked for is checked against the bytes. */
async function getManifest(s: RegistrySession, reference: string, expectedDigest?: string): Promise<{ body: Buffer; contentType?: string; digest: string }> {
  const url = s.url(`/v2/${s.ref.repository}/manifests/${reference}`);
  const res = await s.send({ method: "GET", url, headers: { accept: MANIFEST_ACCEPT } });
  const name = `${s.ref.registry}/${s.ref.repository}${reference.includes(":") ? "@" : ":"}${reference}`;
  if (res.status === 404) throw new DownloadError(`${name} not found: the registry has no such ${reference.includes(":") ? "manifest" : "tag"}`, { status: 404, retryable: false, hint: "check the repository and tag in PACKAGE_URL (push it with download-package package push)" });
  if (res.status === 403) throw new DownloadError(`the registry ${s.ref.registry} denied access to ${s.ref.repository} (HTTP 403)`, { status: 403, retryable: false, hint: "the credentials have no pull permission on this repository" });
  if (res.status !== 200) throw new DownloadError(`the registry ${s.ref.registry} answered HTTP ${res.status} for ${name}`, { status: res.status, retryable: false, hint: "check the reference in PACKAGE_URL" });
  const algorithm = expectedDigest?.split(":")[0] ?? "sha256";
  const digest = digestOf(res.body, algorithm);
  if (expectedDigest && digest !== expectedDigest) throw new IntegrityError(`the manifest of ${name} has digest ${digest}`, "the registry (or a mirror) serves other content under this digest; do not trust it");
  return { body: res.body, contentType: res.headers["content-type"], digest };
}

/** The layer to install, and the digest of what the reference names (the index when it is one). */
async function resolveLayer(s: RegistrySession, platform: Platform, layerName: string, log: Logger): Promise<{ layer: Descriptor; manifestDigest: string }> {
  const top = await getManifest(s, manifestReference(s.ref), s.ref.digest);
  let parsed = parseManifest(top.body, top.contentType);
  if (parsed.kind === "index") {
    const entry = choosePlatform(parsed.manifests, platform);
    log.info("image index: using the platform's manifest", { platform: formatPlatform(platform), digest: entry.digest });
    const m = await getManifest(s, entry.digest, entry.digest);
    parsed = parseManifest(m.body, m.contentType ?? entry.mediaType);
    if (parsed.kind === "index") throw new DownloadError("an image index points at another index", { retryable: false, hint: "point PACKAGE_URL at an artifact or a one-level index" });
  }
  return { layer: chooseLayer(parsed.layers, layerName), manifestDigest: top.digest };
}

/** A pinned reference whose resolution is recorded in the marker with the same layer: nothing to ask. */
function installedByPin(refs: OciReference[], marker: Marker | undefined, config: OciOptions): boolean {
  const pin = refs[0].digest;
  if (!pin || config.force || !marker?.digest) return false;
  const recorded = marker.urls.filter(isOciUrl).map((u) => {
    try {
      return parseReference(u).digest;
    } catch {
      return undefined;
    }
  });
  if (!recorded.includes(pin)) return false;
  if (!config.sha256) return true;
  return sameDigest(parseExpectedDigest(config.sha256, "PACKAGE_SHA256"), marker.digest);
}

function checkUserDigest(config: OciOptions, layer: Descriptor) {
  if (!config.sha256) return;
  const e = parseExpectedDigest(config.sha256, "PACKAGE_SHA256");
  if (formatDigest(e) !== layer.digest) {
    throw new IntegrityError(`PACKAGE_SHA256 is ${formatDigest(e)} but the manifest's package layer is ${layer.digest}`, "the registry holds other content than expected: fix the reference or PACKAGE_SHA256 (it must be the layer digest, not the manifest's)");
  }
}

/**
 * Blob URLs, each with its registry's session as the transfer's AuthProvider: Basic, a token
 * file (re-read per attempt) or a bearer token that session renews on a 401, so every mirror
 * keeps its own credentials (a token from the dance belongs to the registry that issued it) and
 * a download that outlives a token goes on with a fresh one. The serving registry comes first.
 */
function blobPlan(serving: RegistrySession, refs: OciReference[], config: OciOptions, http: RegistryHttp, digest: string): { urls: string[]; auth: Map<string, AuthProvider> } {
  const blob = (r: OciReference) => new URL(`/v2/${r.repository}/blobs/${digest}`, `${config.plainHttp ? "http" : "https"}://${r.registry}`).href;
  const sessions = [serving, ...refs.filter((r) => r !== serving.ref).map((r) => openSession(r, config, http, "pull"))];
  const auth = new Map<string, AuthProvider>(sessions.map((s) => [blob(s.ref), s]));
  return { urls: [...auth.keys()], auth };
}

/** undefined: not an oci:// package. "installed": pinned and already there, no request made. */
export async function resolveOci(ctx: OciContext, tls: TlsSettings): Promise<OciPlan | "installed" | undefined> {
  const { config, log } = ctx;
  if (!config.urls.some(isOciUrl)) return undefined;
  const refs = config.urls.map(parseReference);
  const marker = new Installation(config.dest).readMarker();
  if (installedByPin(refs, marker, config)) {
    log.info("already installed, nothing to do: the pinned reference is the one installed", { dest: config.dest, reference: formatReference(refs[0]), digest: `${marker!.digest!.algorithm}:${marker!.digest!.hex}` });
    return "installed";
  }
  const platform = parsePlatform(config.platform) ?? nodePlatform();
  const http = registryHttp(ctx, tls);
  try {
    return await resolveFromMirrors(ctx, refs, platform, http);
  } catch (e) {
    await http.close();
    throw e;
  }
}

/** The first registry that resolves the reference serves the manifest; download errors move to the next. */
async function resolveFromMirrors(ctx: OciContext, refs: OciReference[], platform: Platform, http: RegistryHttp): Promise<OciPlan> {
  const { config, log } = ctx;
  let lastError: AppError | undefined;
  for (const ref of refs) {
    const session = openSession(ref, config, http, "pull");
    try {
      const { layer, manifestDigest } = await resolveLayer(session, platform, config.ociLayer, log);
      checkUserDigest(config, layer);
      log.info("resolved", { reference: formatReference(ref), manifest: manifestDigest, layer: layer.digest, title: layer.annotations?.[TITLE], size: layer.size, mediaType: layer.mediaType });
      const references = refs.map((r) => formatReference({ ...r, digest: r.digest ?? manifestDigest }));
      const { urls, auth } = blobPlan(session, refs, config, http, layer.digest);
      // The credentials are in `auth`, per origin: none is left for the transfer to send anywhere else.
      const source: BlobSource = { urls, sha256: layer.digest, checksumUrl: "", tokenFile: "", basicAuthFile: "" };
      return { source, references, auth, close: () => http.close() };
    } catch (e) {
      if (!(e instanceof DownloadError) || ctx.signal.aborted) throw e;
      lastError = e;
      if (refs.length > 1) log.warn("registry failed, trying the next mirror", { reference: formatReference(ref), error: e.message });
    }
  }
  throw lastError!;
}
