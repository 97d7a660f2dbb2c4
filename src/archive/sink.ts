// The raw package bytes go in; verified digest, detected format, and extracted files come
// out. One object per download from byte 0: a restart makes a new one on a fresh staging dir.
//
//   raw bytes ─┬─ hash (sha256/sha512, on the exact bytes served; only when verifying)
//              └─ sniff ─ [gunzip | zstd] ─ tar check ─ tar Parser ─ Extractor (staging dir)

import { createHash, type Hash } from "node:crypto";
import { Writable } from "node:stream";
import zlib from "node:zlib";
import { describeNonArchive, detectFormat, looksLikeTar, SNIFF_BYTES, type Format } from "./detect.ts";
import { AppError, ArchiveError } from "../errors.ts";
import { Extractor, type ExtractOptions, type ExtractStats } from "./extract.ts";

export interface ArchiveResult extends ExtractStats {
  format: Format;
  rawBytes: number;
  /** Absent when no checksum was expected: hashing is the largest CPU cost of a big package. */
  digest?: { algorithm: string; hex: string };
}

// The ratio guard waits for this much output so that small, very compressible packages pass.
const RATIO_GRACE_BYTES = 64 * 1024 * 1024;

export class ArchiveSink extends Writable {
  private readonly hash?: Hash;
  private readonly algorithm?: string;
  private readonly extractor: Extractor;
  private sniff: Buffer[] = [];
  private sniffLen = 0;
  private tarSniff: Buffer[] | undefined = [];
  private tarSniffLen = 0;
  private format: Format | undefined;
  private decoder?: zlib.Gunzip | zlib.ZstdDecompress;
  private rawBytes = 0;
  private tarBytes = 0;
  private readonly maxRatio: number;
  private readonly done: Promise<void>;
  private resolveDone!: () => void;
  private failure?: AppError;

  constructor(stagingDir: string, opts: ExtractOptions & { maxRatio: number; algorithm?: "sha256" | "sha512" }) {
    super({ highWaterMark: 1024 * 1024 });
    this.algorithm = opts.algorithm;
    this.hash = opts.algorithm ? createHash(opts.algorithm) : undefined;
    this.maxRatio = opts.maxRatio;
    this.extractor = new Extractor(stagingDir, opts, (err) => this.fail(err));
    this.done = new Promise((resolve) => (this.resolveDone = resolve));
    // Failures can land between writes (a thread-pool write hitting ENOSPC); the transfer
    // loop reads them from .errored, and endSink() from the end callback.
    this.on("error", () => {});
    this.extractor.parser.on("end", () => this.resolveDone());
  }

  private fail(err: AppError) {
    if (this.failure) return;
    this.failure = err;
    this.decoder?.destroy();
    this.resolveDone();
    this.destroy(err);
  }

  override _write(chunk: Buffer, _enc: BufferEncoding, cb: (err?: Error | null) => void) {
    if (this.failure) return cb(this.failure);
    this.hash?.update(chunk);
    this.rawBytes += chunk.length;
    if (this.format === undefined) {
      this.sniff.push(chunk);
      this.sniffLen += chunk.length;
      if (this.sniffLen < SNIFF_BYTES) return cb();
      const head = Buffer.concat(this.sniff);
      this.sniff = [];
      if (!this.choose(head)) return cb(this.failure);
      chunk = head;
    }
    this.feedRaw(chunk, cb);
  }

  override _final(cb: (err?: Error | null) => void) {
    if (this.format === undefined) {
      const head = Buffer.concat(this.sniff);
      if (!this.choose(head)) return cb(this.failure);
      if (head.length) return this.feedRaw(head, () => this.endAll(cb));
    }
    this.endAll(cb);
  }

  private endAll(cb: (err?: Error | null) => void) {
    if (this.failure) return cb(this.failure);
    if (this.decoder) this.decoder.end();
    else this.endTar();
    this.done
      .then(() => {
        if (this.failure) throw this.failure;
        return this.extractor.finish();
      })
      .then(
        () => cb(this.failure),
        (e: Error) => {
          // Through fail(): .errored must be set, which is what the caller reads.
          if (e instanceof AppError) this.fail(e);
          else this.destroy(e);
          cb(e);
        },
      );
  }

  /** Decide the format from the first bytes; false (and failed) when it is not something we extract. */
  private choose(head: Buffer): boolean {
    const f = detectFormat(head);
    const unsupported = (name: string) => this.fail(new ArchiveError(`unsupported package format ${name}`, "repackage as .tar, .tar.gz or .tar.zst"));
    switch (f) {
      case "gzip":
      case "zstd": {
        this.decoder = f === "gzip" ? zlib.createGunzip({ chunkSize: 256 * 1024 }) : zlib.createZstdDecompress({ chunkSize: 256 * 1024 });
        this.decoder.on("data", (d: Buffer) => this.feedTar(d));
        this.decoder.on("end", () => this.endTar());
        this.decoder.on("error", (e) => this.fail(new ArchiveError(`corrupt ${f} data: ${e.message}`, "the package is damaged or truncated; rebuild or re-upload it")));
        break;
      }
      case "tar":
        break;
      case "bzip2":
      case "xz":
      case "zip":
        unsupported(f);
        return false;
      default:
        this.fail(new ArchiveError(`not an archive: ${describeNonArchive(head)}`, "check that PACKAGE_URL points at the package itself (a .tar, .tar.gz or .tar.zst)"));
        return false;
    }
    this.format = f;
    return true;
  }

  private feedRaw(chunk: Buffer, cb: (err?: Error | null) => void) {
    if (!this.decoder) {
      // Plain tar: wait while the parser holds data back (a large entry paused on its disk
      // writes queues every later entry in memory): the package's bytes stay in the socket.
      if (this.feedTar(chunk) || this.failure) return cb(this.failure);
      this.extractor.parser.once("drain", () => cb(this.failure));
      return;
    }
    if (this.decoder.write(chunk)) cb();
    else this.decoder.once("drain", () => cb(this.failure));
  }

  /** False when the parser asks the writer to wait for its "drain". */
  private feedTar(chunk: Buffer): boolean {
    if (this.failure) return true;
    this.tarBytes += chunk.length;
    if (this.maxRatio > 0 && this.decoder && this.tarBytes > RATIO_GRACE_BYTES && this.tarBytes > this.rawBytes * this.maxRatio) {
      this.fail(new ArchiveError(`archive expands more than ${this.maxRatio}:1 (a decompression bomb?)`, "raise PACKAGE_MAX_RATIO if the package is legitimate"));
      return true;
    }
    if (this.tarSniff) {
      this.tarSniff.push(chunk);
      this.tarSniffLen += chunk.length;
      if (this.tarSniffLen < 512) return true;
      chunk = Buffer.concat(this.tarSniff);
      this.tarSniff = undefined;
      if (!looksLikeTar(chunk)) {
        this.fail(new ArchiveError(`not an archive: ${this.format} data that is not a tar archive`, "compress a tar archive (tar -czf), not a single file"));
        return true;
      }
    }
    // Past the end-of-archive marker nothing is read (as GNU tar does); the parser would buffer it all.
    if (this.extractor.ended) return true;
    const flowing = this.extractor.write(chunk);
    if (!flowing && this.decoder && !this.failure) {
      this.decoder.pause();
      this.extractor.parser.once("drain", () => this.decoder?.resume());
    }
    return flowing;
  }

  private endTar() {
    if (this.failure) return;
    if (this.tarSniff) {
      const rest = Buffer.concat(this.tarSniff);
      this.tarSniff = undefined;
      if (rest.length === 0) return this.fail(new ArchiveError(`not an archive: ${this.format ? this.format + " data is empty" : "the body is empty"}`, "check that PACKAGE_URL points at the package itself"));
      if (!looksLikeTar(rest)) return this.fail(new ArchiveError(`not an archive: ${this.format === "tar" ? describeNonArchive(rest) : `${this.format} data that is not a tar archive`}`, "check that PACKAGE_URL points at a tar archive"));
      this.extractor.write(rest);
    }
    this.extractor.end();
  }

  /** Cheap counters for progress lines (no digest). */
  progress(): { rawBytes: number; files: number } {
    return { rawBytes: this.rawBytes, files: this.extractor.stats.files };
  }

  result(): ArchiveResult {
    return { ...this.extractor.stats, format: this.format ?? "unknown", rawBytes: this.rawBytes, digest: this.hash && this.algorithm ? { algorithm: this.algorithm, hex: this.hash.copy().digest("hex") } : undefined };
  }
}
