// Safe extraction of a tar stream into a staging directory. Every entry is judged first
// and the first bad one stops everything, named in the error (fail closed). Writes are
// synchronous: one syscall each, no thread-pool round trip per small file, and the
// extractor never buffers more than the chunk in hand.

import fs from "node:fs";
import path from "node:path";
import { Parser, type ReadEntry } from "tar";
import { ArchiveError, fromFsError, type AppError } from "../errors.ts";
import { ancestors, entryPath, symlinkTarget } from "./entry-path.ts";

export interface ExtractLimits {
  maxBytes: number;
  maxEntries: number;
  maxEntryBytes: number;
  maxPathLength: number;
}

export interface ExtractOptions extends ExtractLimits {
  stripComponents: number;
  uid: number;
  gid: number;
  fileMode: number;
  dirMode: number;
}

export interface ExtractStats {
  entries: number;
  files: number;
  bytes: number;
}

const { O_WRONLY, O_CREAT, O_EXCL, O_NOFOLLOW } = fs.constants;
const ASYNC_ENTRY_BYTES = 1024 * 1024;
const MAX_IN_FLIGHT_BYTES = 16 * 1024 * 1024;

export class Extractor {
  readonly parser: Parser;
  readonly stats: ExtractStats = { entries: 0, files: 0, bytes: 0 };
  private failure?: AppError;
  private readonly files = new Set<string>();
  private readonly symlinks = new Set<string>();
  private readonly dirs = new Map<string, number>();
  private readonly root: string;
  private readonly opts: ExtractOptions;
  private inFlight = 0;
  private paused?: ReadEntry;
  private drained: (() => void)[] = [];

  constructor(root: string, opts: ExtractOptions, onError: (err: AppError) => void) {
    this.root = root;
    this.opts = opts;
    this.parser = new Parser({ brotli: false, zstd: false } as ConstructorParameters<typeof Parser>[0]);
    this.onError = onError;
    const fail = (err: AppError) => this.fail(err);
    this.parser.on("warn", (_code: string, message: string) => fail(new ArchiveError(`corrupt tar archive: ${message}`, "the package is damaged or not a tar archive; rebuild it")));
    this.parser.on("error", (e: Error) => fail(new ArchiveError(`corrupt tar archive: ${e.message}`, "the package is damaged; rebuild it")));
    this.parser.on("entry", (entry: ReadEntry) => {
      if (this.failure) return entry.resume();
      try {
        this.onEntry(entry);
      } catch (e) {
        entry.resume();
        fail(fromFsError(e, `writing ${JSON.stringify(entry.path)}`));
      }
    });
  }

  private readonly onError: (err: AppError) => void;

  fail(err: AppError) {
    if (this.failure) return;
    this.failure = err;
    this.parser.abort(err);
    this.onError(err);
  }

  get failed(): AppError | undefined {
    return this.failure;
  }

  private refuse(entry: ReadEntry, reason: string, hint = "the archive is unsafe; rebuild it with relative paths that stay inside it"): never {
    throw new ArchiveError(`unsafe archive entry ${JSON.stringify(entry.path)}: ${reason}`, hint);
  }

  private onEntry(entry: ReadEntry) {
    const o = this.opts;
    if (++this.stats.entries > o.maxEntries) throw new ArchiveError(`archive has more than ${o.maxEntries} entries`, "raise PACKAGE_MAX_ENTRIES if the package is legitimate");
    const verdict = entryPath(entry.path, o.stripComponents, o.maxPathLength);
    if (!verdict.ok) this.refuse(entry, verdict.reason);
    if ("skip" in verdict) return entry.resume();
    const rel = verdict.rel;
    for (const a of ancestors(rel)) {
      if (this.symlinks.has(a)) this.refuse(entry, `would be written through the symlink ${JSON.stringify(a)} made earlier in the archive`);
      if (this.files.has(a)) this.refuse(entry, `needs ${JSON.stringify(a)} to be a directory, but the archive made it a file`);
    }
    const full = path.join(this.root, rel);
    const mode = (entry.mode ?? 0o644) & 0o777; // setuid, setgid and sticky bits are always dropped
    switch (entry.type) {
      case "File":
      case "OldFile":
      case "ContiguousFile":
        return this.writeFile(entry, rel, full, o.fileMode >= 0 ? o.fileMode : mode);
      case "Directory":
        if (this.symlinks.has(rel) || this.files.has(rel)) this.refuse(entry, "replaces a file or symlink made earlier in the archive with a directory");
        this.mkdirp(rel);
        this.dirs.set(rel, o.dirMode >= 0 ? o.dirMode : mode);
        return entry.resume();
      case "SymbolicLink": {
        const target = entry.linkpath ?? "";
        if (symlinkTarget(rel, target) === undefined) this.refuse(entry, `is a symlink whose target ${JSON.stringify(target)} leaves the destination`);
        this.prepareLeaf(entry, rel, full);
        fs.symlinkSync(target, full);
        this.symlinks.add(rel);
        this.chown(full, true);
        return entry.resume();
      }
      case "Link": {
        const verdictT = entryPath(entry.linkpath ?? "", o.stripComponents, o.maxPathLength);
        if (!verdictT.ok || "skip" in verdictT) this.refuse(entry, `is a hardlink whose target ${JSON.stringify(entry.linkpath)} leaves the destination`);
        const target = verdictT.rel;
        if (!this.files.has(target)) this.refuse(entry, `is a hardlink to ${JSON.stringify(entry.linkpath)}, which is not a regular file earlier in the archive`);
        this.prepareLeaf(entry, rel, full);
        fs.linkSync(path.join(this.root, target), full);
        this.files.add(rel);
        return entry.resume();
      }
      case "CharacterDevice":
      case "BlockDevice":
      case "FIFO":
        this.refuse(entry, `is a ${entry.type} entry; packages may hold only files, directories and links`, "remove device and FIFO entries from the package");
      default:
        this.refuse(entry, `has unsupported entry type ${entry.type}`, "rebuild the package with plain files, directories and links");
    }
  }

  private mkdirp(rel: string) {
    for (const d of [...ancestors(rel), rel]) {
      if (this.dirs.has(d)) continue;
      const full = path.join(this.root, d);
      try {
        fs.mkdirSync(full, { mode: 0o700 });
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== "EEXIST" || !fs.lstatSync(full).isDirectory()) throw e;
      }
      this.dirs.set(d, 0o755); // implied parents get the usual mode; an explicit entry overrides
    }
  }

  /** Parent directories exist; whatever the archive put at this name before is replaced (later entries win, as with tar). */
  private prepareLeaf(entry: ReadEntry, rel: string, full: string) {
    if (this.dirs.has(rel)) this.refuse(entry, "replaces a directory made earlier in the archive");
    this.mkdirp(path.posix.dirname(rel) === "." ? "" : path.posix.dirname(rel));
    if (this.files.has(rel) || this.symlinks.has(rel)) {
      fs.unlinkSync(full);
      this.files.delete(rel);
      this.symlinks.delete(rel);
    }
  }

  private writeFile(entry: ReadEntry, rel: string, full: string, mode: number) {
    const o = this.opts;
    if (entry.size > o.maxEntryBytes) throw new ArchiveError(`archive entry ${JSON.stringify(entry.path)} is ${entry.size} bytes, over the ${o.maxEntryBytes}-byte limit`, "raise PACKAGE_MAX_ENTRY_BYTES if the package is legitimate");
    if (this.stats.bytes + entry.size > o.maxBytes) throw new ArchiveError(`archive expands to more than ${o.maxBytes} bytes`, "raise PACKAGE_MAX_BYTES if the package is legitimate");
    this.stats.bytes += entry.size;
    this.prepareLeaf(entry, rel, full);
    // O_EXCL|O_NOFOLLOW: never open through a symlink, never reuse an inode a hardlink shares.
    const fd = fs.openSync(full, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW, mode);
    this.files.add(rel);
    this.stats.files++;
    const finalize = () => {
      try {
        if (entry.mtime) fs.futimesSync(fd, entry.mtime, entry.mtime);
        if (o.uid >= 0 || o.gid >= 0) fs.fchownSync(fd, o.uid, o.gid);
        fs.closeSync(fd);
      } catch (e) {
        this.fail(fromFsError(e, `finishing ${JSON.stringify(rel)}`));
      }
    };
    if (entry.size < ASYNC_ENTRY_BYTES) {
      // Small files: synchronous writes, one syscall each, no thread-pool round trip.
      entry.on("data", (chunk: Buffer) => {
        if (this.failure) return;
        try {
          let off = 0;
          while (off < chunk.length) off += fs.writeSync(fd, chunk, off, chunk.length - off);
        } catch (e) {
          this.fail(fromFsError(e, `writing ${JSON.stringify(rel)}`));
        }
      });
      entry.on("end", finalize);
      return;
    }
    // Large files: positional writes on the thread pool, so that the disk works while this
    // thread hashes and parses the next bytes; bounded by MAX_IN_FLIGHT_BYTES.
    let position = 0;
    let pendingHere = 0;
    let ended = false;
    const settle = () => {
      if (ended && pendingHere === 0) finalize();
    };
    const write = (chunk: Buffer, pos: number) => {
      fs.write(fd, chunk, 0, chunk.length, pos, (err, written) => {
        if (err) {
          this.fail(fromFsError(err, `writing ${JSON.stringify(rel)}`));
        } else if (written < chunk.length && !this.failure) {
          return write(chunk.subarray(written), pos + written);
        }
        pendingHere--;
        this.inFlight -= chunk.length;
        if (this.paused && this.inFlight <= MAX_IN_FLIGHT_BYTES / 2) {
          const p = this.paused;
          this.paused = undefined;
          p.resume();
        }
        settle();
        if (this.inFlight === 0) for (const f of this.drained.splice(0)) f();
      });
    };
    entry.on("data", (chunk: Buffer) => {
      if (this.failure) return;
      pendingHere++;
      this.inFlight += chunk.length;
      write(chunk, position);
      position += chunk.length;
      if (this.inFlight > MAX_IN_FLIGHT_BYTES && !this.paused) {
        this.paused = entry;
        entry.pause();
      }
    });
    entry.on("end", () => {
      ended = true;
      settle();
    });
  }

  private chown(full: string, isLink: boolean) {
    const o = this.opts;
    if (o.uid < 0 && o.gid < 0) return;
    (isLink ? fs.lchownSync : fs.chownSync)(full, o.uid, o.gid);
  }

  /** Wait for every write, then apply directory modes (deepest first) and ownership. */
  async finish() {
    if (this.inFlight > 0) await new Promise<void>((resolve) => this.drained.push(resolve));
    if (this.failure) throw this.failure;
    const dirs = [...this.dirs.entries()].filter(([d]) => d !== "").sort((a, b) => b[0].length - a[0].length);
    try {
      for (const [d, mode] of dirs) {
        const full = path.join(this.root, d);
        fs.chmodSync(full, mode);
        this.chown(full, false);
      }
    } catch (e) {
      throw fromFsError(e, "setting directory modes");
    }
  }
}
