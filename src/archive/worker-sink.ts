// The package sink that extracts on a worker thread: this (main) thread only receives the
// socket's bytes, hashes them when verifying, and hands them over; the worker runs the same
// ArchiveSink pipeline as the inline sink. `curl | tar` spreads the work over two processes;
// this spreads it over two threads.
//
//   raw bytes ─┬─ hash (main thread, only when verifying)
//              └─ postMessage (copied once into a transferred ArrayBuffer) ─▶ worker: ArchiveSink
//
// A drop-in for ArchiveSink (a Writable with progress() and result(), failures through
// destroy/.errored, end() resolving once everything is on disk), plus stopped(): the staging
// directory may be removed only once the worker can no longer write into it.
//
// DP_SINK=inline|worker picks one (a debugging and benchmarking aid; worker by default).

import { createHash, type Hash } from "node:crypto";
import { Writable } from "node:stream";
import { Worker } from "node:worker_threads";
import { detectFormat } from "./detect.ts";
import { ArchiveSink, type ArchiveResult } from "./sink.ts";
import { deserializeError, type FromWorker, type ToWorker, type WorkerInit } from "./worker-protocol.ts";
import type { ExtractOptions } from "./extract.ts";

// Filled in by scripts/build.mjs: the worker's own bundle, as a string (the single executable
// carries no files). Undefined when run from source, which then extracts inline.
declare const __WORKER_CODE__: string | undefined;

/** Unacknowledged bytes between the threads before write() waits: bounds memory, keeps both busy. */
export const MAX_IN_FLIGHT_BYTES = 4 * 1024 * 1024;

const COPY_ALWAYS = process.env.DP_WORKER_COPY === "1"; // measurement aid: copy every chunk

/** The worker's V8 young generation (three semi-spaces of 1 MiB, as --max-semi-space-size=1 gives the main thread). */
const WORKER_YOUNG_GENERATION_MB = 3;

export type SinkOptions = ExtractOptions & { maxRatio: number; algorithm?: "sha256" | "sha512" };

/** What src/run.ts needs from a package sink, inline or on a worker. */
export interface PackageSink extends Writable {
  progress(): { rawBytes: number; files: number };
  result(): ArchiveResult;
  /** Resolves once nothing can write into the staging directory any more (after destroy or end). */
  stopped(): Promise<void>;
}

class InlineSink extends ArchiveSink implements PackageSink {
  stopped(): Promise<void> {
    return Promise.resolve();
  }
}

/** Below this announced size, starting a worker (a new V8 isolate) costs more than it saves. */
export const INLINE_BELOW_BYTES = 8 * 1024 * 1024;

/**
 * DP_SINK=inline keeps everything on the main thread (the previous design), DP_SINK=worker
 * always uses the worker. By default, decided at the first bytes: a plain tar of 8 MiB or more
 * (or of unknown size) goes to the worker; gzip and zstd stay inline, where the decoder already
 * runs on the thread pool and the worker measured no faster but 30-50 MiB larger (BENCHMARKS.md).
 */
export function createPackageSink(stagingDir: string, opts: SinkOptions, size: () => number | undefined, env: NodeJS.ProcessEnv = process.env): PackageSink {
  const code = typeof __WORKER_CODE__ === "string" ? __WORKER_CODE__ : undefined;
  const mode = env.DP_SINK === "inline" || !code ? "inline" : env.DP_SINK === "worker" ? "worker" : "auto";
  if (mode === "inline") return new InlineSink(stagingDir, opts);
  if (mode === "worker") return new WorkerSink(code!, stagingDir, opts);
  return new DeferredSink((first) => {
    const n = size();
    const small = n !== undefined && n < INLINE_BELOW_BYTES;
    const compressed = ["gzip", "zstd"].includes(detectFormat(first));
    return small || compressed ? new InlineSink(stagingDir, opts) : new WorkerSink(code!, stagingDir, opts);
  });
}

/** Picks its sink at the first byte, when the response has said how large the package is. */
class DeferredSink extends Writable implements PackageSink {
  private inner?: PackageSink;
  private readonly make: (first: Buffer) => PackageSink;

  constructor(make: (first: Buffer) => PackageSink) {
    super({ highWaterMark: 64 * 1024 });
    this.make = make;
    this.on("error", () => {});
  }

  /** `first`: the package's first bytes (enough for its magic number), or none at all. */
  private sink(first: Buffer = Buffer.alloc(0)): PackageSink {
    if (this.inner) return this.inner;
    const inner = this.make(first);
    inner.on("error", (e: Error) => this.destroy(e));
    return (this.inner = inner);
  }

  override _write(chunk: Buffer, _enc: BufferEncoding, cb: (err?: Error | null) => void) {
    if (this.sink(chunk).write(chunk)) cb();
    else this.inner!.once("drain", () => cb());
  }

  override _final(cb: (err?: Error | null) => void) {
    const inner = this.sink();
    inner.end(() => {
      // .errored first, then end()'s callback: its waiters read .errored.
      if (inner.errored) this.destroy(inner.errored);
      cb(inner.errored);
    });
  }

  override _destroy(err: Error | null, cb: (err?: Error | null) => void) {
    this.inner?.destroy();
    cb(err);
  }

  stopped(): Promise<void> {
    return this.inner?.stopped() ?? Promise.resolve();
  }

  progress() {
    return this.inner?.progress() ?? { rawBytes: 0, files: 0 };
  }

  result(): ArchiveResult {
    return this.sink().result();
  }
}

function workerOptions(o: SinkOptions): WorkerInit["opts"] {
  const { stripComponents, uid, gid, fileMode, dirMode, maxBytes, maxEntries, maxEntryBytes, maxPathLength, maxRatio } = o;
  return { stripComponents, uid, gid, fileMode, dirMode, maxBytes, maxEntries, maxEntryBytes, maxPathLength, maxRatio };
}

function spawnWorker(code: string, init: WorkerInit): Worker {
  // A small young generation: the bytes live outside the V8 heap (Buffers), so a large nursery
  // only costs resident memory (measured in BENCHMARKS.md). DP_WORKER_YOUNG_MB overrides it.
  const young = Number(process.env.DP_WORKER_YOUNG_MB) || WORKER_YOUNG_GENERATION_MB;
  return new Worker(code, { eval: true, workerData: init, resourceLimits: { maxYoungGenerationSizeMb: young } });
}

export class WorkerSink extends Writable implements PackageSink {
  private readonly worker: Worker;
  private readonly hash?: Hash;
  private readonly algorithm?: string;
  private readonly exited: Promise<void>;
  private rawBytes = 0;
  private files = 0;
  private inFlight = 0;
  /** A write() waiting for acknowledgements, and end() waiting for the worker's result. */
  private waitingWrite?: () => void;
  private waitingEnd?: (err?: Error | null) => void;
  private outcome?: Omit<ArchiveResult, "digest" | "rawBytes">;

  constructor(workerCode: string, stagingDir: string, opts: SinkOptions) {
    super({ highWaterMark: 256 * 1024 });
    this.algorithm = opts.algorithm;
    this.hash = opts.algorithm ? createHash(opts.algorithm) : undefined;
    this.worker = spawnWorker(workerCode, { stagingDir, opts: workerOptions(opts) });
    this.exited = new Promise((resolve) => this.worker.once("exit", () => resolve()));
    this.worker.on("message", (m: FromWorker) => this.onMessage(m));
    this.worker.on("error", (e) => this.fail(e));
    this.worker.once("exit", (code) => {
      if (!this.outcome && !this.destroyed) this.fail(new Error(`the extraction worker exited (code ${code}) before the end of the package`));
    });
    // As with ArchiveSink: failures land between writes; the transfer loop reads .errored.
    this.on("error", () => {});
  }

  private onMessage(m: FromWorker) {
    switch (m.t) {
      case "ack": {
        this.inFlight -= m.bytes;
        this.files = m.files;
        const w = this.waitingWrite;
        if (w && this.inFlight <= MAX_IN_FLIGHT_BYTES / 2) {
          this.waitingWrite = undefined;
          w();
        }
        return;
      }
      case "done": {
        this.outcome = m.result;
        this.files = m.result.files;
        void this.worker.terminate();
        const cb = this.waitingEnd;
        this.waitingEnd = undefined;
        cb?.();
        return;
      }
      case "error":
        return this.fail(deserializeError(m.error));
    }
  }

  private fail(err: Error) {
    if (this.errored || this.destroyed) return;
    const cb = this.waitingEnd;
    this.waitingEnd = undefined;
    this.waitingWrite = undefined;
    // .errored first, then end()'s callback: its waiters read .errored (as with ArchiveSink).
    this.destroy(err);
    cb?.(err);
  }

  override _write(chunk: Buffer, _enc: BufferEncoding, cb: (err?: Error | null) => void) {
    this.hash?.update(chunk);
    this.rawBytes += chunk.length;
    this.inFlight += chunk.length;
    // undici hands over each body chunk in an ArrayBuffer of its own (measured: 179 of 180
    // 64 KiB chunks): that memory is moved to the worker, not copied. A view into a shared
    // buffer (Node's small-buffer pool) is copied once into one of its own.
    const owned = chunk.byteOffset === 0 && chunk.buffer.byteLength === chunk.length && !COPY_ALWAYS;
    const ab = (owned ? chunk.buffer : chunk.buffer.slice(chunk.byteOffset, chunk.byteOffset + chunk.length)) as ArrayBuffer;
    this.worker.postMessage({ t: "data", ab } satisfies ToWorker, [ab]);
    if (this.inFlight <= MAX_IN_FLIGHT_BYTES) return cb();
    this.waitingWrite = () => cb();
  }

  override _final(cb: (err?: Error | null) => void) {
    this.waitingEnd = cb;
    this.worker.postMessage({ t: "end" } satisfies ToWorker);
  }

  override _destroy(err: Error | null, cb: (err?: Error | null) => void) {
    this.worker.terminate().then(
      () => cb(err),
      () => cb(err),
    );
  }

  stopped(): Promise<void> {
    return this.exited;
  }

  progress(): { rawBytes: number; files: number } {
    return { rawBytes: this.rawBytes, files: this.files };
  }

  result(): ArchiveResult {
    const r = this.outcome;
    // Never a silent empty success: only a finished extraction has a result.
    if (!r) throw new Error("WorkerSink.result() called before the worker finished");
    return { ...r, rawBytes: this.rawBytes, digest: this.hash && this.algorithm ? { algorithm: this.algorithm, hex: this.hash.copy().digest("hex") } : undefined };
  }
}
