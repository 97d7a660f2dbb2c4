// A hashing stage in front of the archive sink, used when a checksum is expected. Every raw
// byte is hashed here, in order, whatever the archive does with it. When the archive fails
// (corrupt gzip or zstd data, not a tar, a truncated tar), the rest of the body is still read
// and hashed, not extracted: damaged bytes are then reported as what they are, a checksum
// mismatch (exit 4), and the archive error (exit 5) only for bytes that match the checksum.
// Reading on is bounded by PACKAGE_MAX_BYTES, and by the transfer's idle timeout and deadline
// as any body is.

import { createHash, type Hash } from "node:crypto";
import { Writable } from "node:stream";
import type { ArchiveResult } from "../archive/sink.ts";
import type { ExpectedDigest } from "../verify/digest.ts";
import { ArchiveError, IntegrityError } from "../errors.ts";

/** What the stage wraps: the archive sink (extraction into staging). */
export interface ArchiveWritable extends Writable {
  result(): ArchiveResult;
  progress(): { rawBytes: number; files: number };
  /** Resolves once nothing can write into the staging directory any more (a worker thread may). */
  stopped(): Promise<void>;
}

export class HashingStage<S extends ArchiveWritable> extends Writable {
  readonly inner: S;
  private readonly expected: ExpectedDigest;
  private readonly maxBytes: number;
  private readonly hash: Hash;
  private rawBytes = 0;
  /** The archive failed: from then on the bytes are only hashed. */
  private archiveFailure?: ArchiveError;

  /** `inner` must not hash itself: this stage's digest is the one reported. */
  constructor(inner: S, expected: ExpectedDigest, maxBytes: number) {
    super({ highWaterMark: 1024 * 1024 });
    [this.inner, this.expected, this.maxBytes] = [inner, expected, maxBytes];
    this.hash = createHash(expected.algorithm);
    // As the archive sink: the transfer reads failures from .errored, endSink() from the end callback.
    this.on("error", () => {});
  }

  stopped(): Promise<void> {
    return this.inner.stopped();
  }

  override _write(chunk: Buffer, _enc: BufferEncoding, cb: (err?: Error | null) => void) {
    this.hash.update(chunk);
    this.rawBytes += chunk.length;
    if (this.archiveFailure) return cb(this.rawBytes > this.maxBytes ? this.archiveFailure : null);
    if (this.inner.errored) return cb(this.judge(this.inner.errored));
    if (this.inner.write(chunk)) return cb();
    drainedOrFailed(this.inner).then(
      () => cb(),
      (e: Error) => cb(this.judge(e)),
    );
  }

  override _final(cb: (err?: Error | null) => void) {
    if (this.archiveFailure) return this.failWith(this.verdict(this.archiveFailure), cb);
    this.inner.end();
    finishedOrFailed(this.inner).then(
      () => cb(),
      (e: Error) => this.failWith(e instanceof ArchiveError ? this.verdict(e) : e, cb),
    );
  }

  /** .errored set before the end callback runs: endSink() reads it there (as for the archive sink). */
  private failWith(err: Error, cb: (err?: Error | null) => void) {
    this.destroy(err);
    cb(err);
  }

  override _destroy(err: Error | null, cb: (err?: Error | null) => void) {
    this.inner.destroy();
    cb(err);
  }

  /** The archive sink failed: an archive error waits for the digest (null: read on); any other ends the transfer. */
  private judge(e: Error): Error | null {
    if (!(e instanceof ArchiveError)) return e;
    this.archiveFailure = e;
    return null;
  }

  /** The whole body is hashed: a digest that differs is the cause, else the archive's error. */
  private verdict(archiveError: ArchiveError): Error {
    const hex = this.hash.copy().digest("hex");
    if (this.rawBytes > this.maxBytes || hex === this.expected.hex) return archiveError;
    const { algorithm } = this.expected;
    return new IntegrityError(`checksum mismatch: expected ${algorithm}:${this.expected.hex}, got ${algorithm}:${hex} (the damaged bytes also failed as an archive: ${archiveError.message})`);
  }

  progress(): { rawBytes: number; files: number } {
    return { rawBytes: this.rawBytes, files: this.inner.progress().files };
  }

  result(): ArchiveResult {
    return { ...this.inner.result(), rawBytes: this.rawBytes, digest: { algorithm: this.expected.algorithm, hex: this.hash.copy().digest("hex") } };
  }
}

function settled(w: Writable, event: "drain" | "finish"): Promise<void> {
  return new Promise((resolve, reject) => {
    const done = (err?: Error) => {
      w.off(event, onOk);
      w.off("error", onError);
      w.off("close", onClose);
      err ? reject(err) : resolve();
    };
    const onOk = () => done();
    const onError = (e: Error) => done(e);
    const onClose = () => done(w.errored ?? new Error("the archive sink closed"));
    w.on(event, onOk);
    w.on("error", onError);
    w.on("close", onClose);
  });
}

const drainedOrFailed = (w: Writable) => (w.errored ? Promise.reject(w.errored) : settled(w, "drain"));
const finishedOrFailed = (w: Writable) => (w.errored ? Promise.reject(w.errored) : w.writableFinished ? Promise.resolve() : settled(w, "finish"));
