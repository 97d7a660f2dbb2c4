// PACKAGE_FORMAT=file: the body is saved as it is, no decompression, as the one file of the
// staging directory; the install then swaps it in like any package's tree. Its name is chosen
// at the first byte, when the response's headers (Content-Disposition) are known.

import fs from "node:fs";
import path from "node:path";
import { Writable } from "node:stream";
import { AppError, ArchiveError, fromFsError, UsageError } from "../errors.ts";
import { chooseFileName } from "./file-name.ts";
import type { ArchiveResult } from "./sink.ts";

export interface FileSinkOptions {
  /** PACKAGE_FILENAME ("" = from the response or the URL). */
  filename: string;
  url: string;
  fileMode: number;
  uid: number;
  gid: number;
  maxBytes: number;
}

const { O_WRONLY, O_CREAT, O_EXCL, O_NOFOLLOW } = fs.constants;

export class FileSink extends Writable {
  private readonly stagingDir: string;
  private readonly opts: FileSinkOptions;
  private readonly contentDisposition: () => string | undefined;
  private fd?: number;
  private rawBytes = 0;
  private name?: string;

  constructor(stagingDir: string, opts: FileSinkOptions, contentDisposition: () => string | undefined) {
    super({ highWaterMark: 1024 * 1024 });
    [this.stagingDir, this.opts, this.contentDisposition] = [stagingDir, opts, contentDisposition];
    this.on("error", () => {}); // as ArchiveSink: the transfer reads .errored
  }

  private open(): number {
    if (this.fd !== undefined) return this.fd;
    const name = chooseFileName(this.opts.filename, this.contentDisposition(), this.opts.url);
    if (!name) throw new UsageError("cannot name the file: neither Content-Disposition nor the URL's last path segment gives a usable file name", "set PACKAGE_FILENAME");
    this.name = name;
    try {
      this.fd = fs.openSync(path.join(this.stagingDir, name), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW, 0o600);
    } catch (e) {
      throw fromFsError(e, `creating ${JSON.stringify(name)}`);
    }
    return this.fd;
  }

  private attempt(job: () => void, cb: (err?: Error | null) => void) {
    try {
      job();
      cb();
    } catch (e) {
      cb(e instanceof AppError ? e : fromFsError(e, `writing ${JSON.stringify(this.name ?? "the file")}`));
    }
  }

  override _write(chunk: Buffer, _enc: BufferEncoding, cb: (err?: Error | null) => void) {
    this.attempt(() => {
      this.rawBytes += chunk.length;
      if (this.rawBytes > this.opts.maxBytes) throw new ArchiveError(`the file is larger than PACKAGE_MAX_BYTES (${this.opts.maxBytes} bytes)`, "raise PACKAGE_MAX_BYTES if the file is legitimate");
      const fd = this.open();
      for (let off = 0; off < chunk.length; ) off += fs.writeSync(fd, chunk, off);
    }, cb);
  }

  override _final(cb: (err?: Error | null) => void) {
    this.attempt(() => {
      const fd = this.open();
      // Set after the writes: the mode does not depend on the umask.
      fs.fchmodSync(fd, this.opts.fileMode >= 0 ? this.opts.fileMode : 0o644);
      if (this.opts.uid >= 0 || this.opts.gid >= 0) fs.fchownSync(fd, this.opts.uid, this.opts.gid);
      this.closeFd();
    }, cb);
  }

  override _destroy(err: Error | null, cb: (err?: Error | null) => void) {
    this.closeFd();
    cb(err);
  }

  private closeFd() {
    if (this.fd === undefined) return;
    const fd = this.fd;
    this.fd = undefined;
    fs.closeSync(fd);
  }

  stopped(): Promise<void> {
    return Promise.resolve();
  }

  progress(): { rawBytes: number; files: number } {
    return { rawBytes: this.rawBytes, files: this.fd === undefined ? 0 : 1 };
  }

  result(): ArchiveResult {
    return { entries: 1, files: 1, bytes: this.rawBytes, format: "file", rawBytes: this.rawBytes };
  }
}
