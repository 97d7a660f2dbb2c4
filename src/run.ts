// One install, the stages in order: the destination's lock → oci:// resolution (when
// PACKAGE_URL is a registry reference) → the expected digest (given, or from the checksum
// file) → transfer into a sink that hashes and extracts into staging → digest compared →
// swap into place and marker. Progress lines and the summary line are written here.

import { formatDigest, parseExpectedDigest, sameDigest, type ExpectedDigest } from "./verify/digest.ts";
import { createPackageSink, type PackageSink } from "./archive/worker-sink.ts";
import { FileSink } from "./archive/file-sink.ts";
import { HashingStage } from "./transfer/hashing-stage.ts";
import { parseChecksumFile } from "./verify/checksum-file.ts";
import { IntegrityError, UsageError } from "./errors.ts";
import type { ExtractOptions } from "./archive/extract.ts";
import { newStats, NotModified, transfer, type TransferOptions, type TransferPlan } from "./transfer/fetch.ts";
import { Installation, type Marker } from "./install/installation.ts";
import { DestinationLock } from "./install/lock.ts";
import { bytesField, type Logger } from "./log.ts";
import { redactUrl } from "./redact.ts";
import { makeTransports } from "./transfer/transports/index.ts";
import { tlsSettings, type TlsFiles } from "./transfer/tls.ts";
import { formatSeconds } from "./units.ts";
import { resolveOci, type OciOptions } from "./transfer/oci/resolve.ts";
import type { AuthProvider } from "./transfer/origin-headers.ts";
import { Writable } from "node:stream";

class MemorySink extends Writable {
  chunks: Buffer[] = [];
  size = 0;
  override _write(chunk: Buffer, _e: BufferEncoding, cb: (err?: Error | null) => void) {
    this.size += chunk.length;
    if (this.size > 1024 * 1024) return cb(new UsageError("the checksum file is larger than 1 MiB", "point PACKAGE_CHECKSUM_URL at a sha256sum-style text file"));
    this.chunks.push(chunk);
    cb();
  }
}

function endSink(w: Writable): Promise<void> {
  return new Promise((resolve, reject) => {
    if (w.errored) return reject(w.errored);
    w.once("error", reject);
    w.end(() => {
      if (w.errored) reject(w.errored);
      else resolve();
    });
  });
}

/** What an install reads from the program's options (src/cli/config.ts's Config has them all). */
export type InstallOptions = TransferOptions &
  TlsFiles &
  ExtractOptions &
  OciOptions & {
    urls: string[];
    dest: string;
    sha256: string;
    checksumUrl: string;
    transports: string[];
    force: boolean;
    lockTimeout: number;
    progressInterval: number;
    maxRatio: number;
    /** PACKAGE_FORMAT: "auto" when absent; "file" saves the body as one file named by `filename`. */
    format?: string;
    filename?: string;
  };

export interface RunContext {
  config: InstallOptions;
  env: NodeJS.ProcessEnv;
  log: Logger;
  signal: AbortSignal;
  /** Epoch ms of the run's deadline (PACKAGE_TIMEOUT), when there is one. */
  deadlineAt?: number;
  /** oci://: what the marker records instead of config.urls (the references with their manifest digest). */
  markerUrls?: string[];
  /** oci://: per blob URL, its registry's credentials, renewed when a token expires. */
  auth?: ReadonlyMap<string, AuthProvider>;
}

/** The last path segment, decoded when it can be (a malformed %-escape is compared as written). */
function fileNameOf(url: string): string {
  const last = new URL(url).pathname.split("/").pop() ?? "";
  try {
    return decodeURIComponent(last);
  } catch {
    return last;
  }
}

async function expectedDigest(ctx: RunContext, base: Omit<TransferPlan, "urls" | "what">): Promise<ExpectedDigest | undefined> {
  const { config } = ctx;
  if (config.sha256) return parseExpectedDigest(config.sha256, "PACKAGE_SHA256");
  if (!config.checksumUrl) return undefined;
  const { sink } = await transfer({ ...base, urls: [config.checksumUrl], what: "checksum file" }, { open: () => new MemorySink(), drop: async () => {} });
  await endSink(sink);
  const text = Buffer.concat(sink.chunks).toString("utf8");
  const names = config.urls.map((u) => fileNameOf(u));
  const found = parseChecksumFile(text, names);
  if (!found) throw new IntegrityError(`the checksum file lists no digest for ${names[0] || "the package"}`, "publish a line 'HEX  FILENAME' for the package in the checksum file");
  return found;
}

/** Create the destination, take its lock (waiting for another run), clean leftovers, run `job`, release. */
async function underLock(ctx: RunContext, install: Installation, job: (lock: DestinationLock, signal: AbortSignal) => Promise<void>): Promise<void> {
  const { config, log } = ctx;
  install.create();
  const untilDeadline = ctx.deadlineAt === undefined ? Infinity : Math.max(0, ctx.deadlineAt - Date.now());
  const byDeadline = untilDeadline < config.lockTimeout;
  const lock = await DestinationLock.acquire(install.stateDir, {
    waitMs: byDeadline ? untilDeadline : config.lockTimeout,
    waitLimit: byDeadline ? "PACKAGE_TIMEOUT" : "PACKAGE_LOCK_TIMEOUT",
    signal: ctx.signal,
    log,
  });
  try {
    const removed = await install.prepare();
    if (removed.length) log.warn("removed leftovers of an interrupted run", { removed });
    await job(lock, AbortSignal.any([ctx.signal, lock.lost]));
  } finally {
    lock.release();
  }
}

export async function runInstall(input: RunContext): Promise<void> {
  const install = new Installation(input.config.dest);
  await underLock(input, install, async (lock, signal) => {
    // oci:// (src/transfer/oci): resolve the reference first, to the layer's blob URLs, its digest
    // as the expected checksum and the registry's credentials; the rest is the ordinary install.
    // Under the lock: "pinned and already installed" is read from the marker no other run is changing.
    const oci = await resolveOci({ ...input, signal }, tlsSettings(input.config, input.env));
    if (oci === "installed") return;
    const ctx: RunContext = oci ? { ...input, signal, config: { ...input.config, ...oci.source }, markerUrls: oci.references, auth: oci.auth } : { ...input, signal };
    try {
      await installUnderLock(ctx, install, lock);
    } finally {
      await oci?.close();
    }
  });
}

async function installUnderLock(ctx: RunContext, install: Installation, lock: DestinationLock): Promise<void> {
  const { config, env, log, signal } = ctx;
  const transports = makeTransports(config.transports, env, log);
  const base = { config, transports, tls: tlsSettings(config, env), env, log, signal };
  const expected = await expectedDigest(ctx, base);
  const marker = install.readMarker();
  if (expected && marker && !config.force && sameDigest(marker.digest, expected)) {
    log.info("already installed, nothing to do", { dest: install.dest, digest: formatDigest(expected), installedAt: marker.installedAt });
    return;
  }
  if (!expected) log.info("no checksum given (PACKAGE_SHA256 or PACKAGE_CHECKSUM_URL): the package is not verified (and not hashed)");
  await downloadAndSwap(ctx, install, lock, base, expected, marker);
}

function startProgress(config: Pick<InstallOptions, "progressInterval">, log: Logger, stats: ReturnType<typeof newStats>, current: () => PackageSink | undefined): NodeJS.Timeout | undefined {
  if (config.progressInterval <= 0) return undefined;
  let lastBytes = 0;
  let lastAt = Date.now();
  const timer = setInterval(() => {
    const r = current()?.progress();
    if (!r) return;
    const now = Date.now();
    const rate = ((r.rawBytes - lastBytes) / Math.max(1, now - lastAt)) * 1000;
    [lastBytes, lastAt] = [r.rawBytes, now];
    const size = stats.size;
    log.info("progress", { bytes: bytesField(r.rawBytes), percent: size ? `${((r.rawBytes / size) * 100).toFixed(1)}%` : undefined, rate: bytesField(rate, true), files: r.files });
  }, config.progressInterval);
  timer.unref();
  return timer;
}

type Base = Omit<TransferPlan, "urls" | "what">;

async function downloadAndSwap(ctx: RunContext, install: Installation, lock: DestinationLock, base: Base, expected: ExpectedDigest | undefined, marker: Marker | undefined): Promise<void> {
  const { config, log } = ctx;
  const started = Date.now();
  // Without a checksum to compare, ask the server whether the installed copy is current.
  const installed = !expected && marker && !config.force && (marker.etag || marker.lastModified) ? { url: marker.urls[0], etag: marker.etag, lastModified: marker.lastModified } : undefined;

  let staging: string | undefined;
  let current: PackageSink | undefined;
  // With a checksum, the hashing stage hashes (the archive sink does not): a damaged body that
  // also breaks the archive is then a checksum mismatch, not an archive error.
  const extractOpts = { ...config, algorithm: undefined };
  const discard = async (dir: string) => {
    const err = await install.discard(dir);
    if (err) log.warn(`${err.message}; the next run removes it`);
  };
  const sinks = {
    open: () => {
      staging = install.newStaging();
      const archive =
        config.format === "file"
          ? new FileSink(staging, { ...config, filename: config.filename ?? "", url: config.urls[0] }, () => stats.contentDisposition)
          : createPackageSink(staging, extractOpts, () => stats.size);
      current = expected ? new HashingStage(archive, expected, config.maxBytes) : archive;
      return current;
    },
    drop: async (s: PackageSink) => {
      s.destroy();
      await s.stopped(); // a worker may still be writing into the staging dir
      if (staging) await discard(staging);
      staging = undefined;
    },
  };

  const stats = newStats();
  const progress = startProgress(config, log, stats, () => current);
  try {
    let t;
    try {
      t = await transfer({ ...base, urls: config.urls, what: "package", stats, installed, auth: ctx.auth }, sinks);
    } catch (e) {
      if (!(e instanceof NotModified)) throw e;
      log.info("already installed, nothing to do: the server says the package is not modified", { dest: install.dest, installedAt: marker!.installedAt, etag: marker!.etag });
      return;
    }
    await endSink(t.sink);
    const result = t.sink.result();
    if (expected && !sameDigest(result.digest, expected)) {
      throw new IntegrityError(`checksum mismatch: expected ${formatDigest(expected)}, got ${expected.algorithm}:${result.digest?.hex}`);
    }
    lock.renew(); // still ours, and a fresh lease for the swap
    const trash = install.commit(staging!, {
      urls: (ctx.markerUrls ?? config.urls).map((u) => redactUrl(u)),
      digest: result.digest,
      installedAt: new Date().toISOString(),
      bytes: result.bytes,
      files: result.files,
      etag: stats.etag,
      lastModified: stats.lastModified,
    });
    lock.renew(); // nobody took the destination over during the swap
    await discard(staging!);
    staging = undefined;
    await discard(trash);
    log.info("installed", {
      dest: install.dest,
      format: result.format,
      files: result.files,
      entries: result.entries,
      bytes: bytesField(result.bytes),
      package: bytesField(result.rawBytes),
      transferred: bytesField(stats.bytesTransferred),
      ratio: result.rawBytes ? (stats.bytesTransferred / result.rawBytes).toFixed(2) : undefined,
      attempts: stats.attempts,
      resumes: stats.resumes,
      restarts: stats.restarts,
      transports: stats.transports,
      digest: result.digest ? formatDigest(result.digest) : undefined,
      verified: expected !== undefined,
      seconds: formatSeconds(Date.now() - started),
    });
  } finally {
    clearInterval(progress);
    if (staging) {
      current?.destroy();
      await current?.stopped();
      await discard(staging);
    }
  }
}
