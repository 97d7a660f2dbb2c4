// Safe extraction of a tar stream into a staging directory. Every entry is judged first
// and the first bad one stops everything, named in the error (fail closed): nothing is ever
// skipped silently. Writes are synchronous: one syscall each, no thread-pool round trip per
// small file, and the extractor never buffers more than the chunk in hand.

import fs from "node:fs";
import path from "node:path";
import { Parser, type ReadEntry } from "tar";
import { AppError, ArchiveError, fromFsError } from "../errors.ts";
import { ancestors, entryPath } from "./entry-path.ts";
import { findEscapingSymlink } from "./link-audit.ts";
import { parentOf, StagingTree } from "./staging-tree.ts";
import { PAX_LINKPATH, PAX_PATH, strictTar, TarDisagreement } from "./strict-tar.ts";

strictTar();

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
/** Linux's PATH_MAX, NUL included: a longer path fails with ENAMETOOLONG. */
export const PATH_MAX = 4096;

/** Entry types node-tar reports that a package may not hold, and why. */
const TYPE_REASONS: Record<string, string> = {
  SparseFile: "is a GNU sparse file (type 'S')",
  TapeVolumeHeader: "is a tape volume header (type 'V')",
  ContinuationFile: "is a multi-volume continuation (type 'M')",
  GNUDumpDir: "is a GNU dump directory (type 'D')",
  SolarisACL: "is a Solaris ACL (type 'A')",
  Inode: "is an inode-only record (type 'I')",
  Unsupported: "has an unknown type flag",
};
const TYPE_HINT = "rebuild the package with plain files, directories and links (no --sparse, no multi-volume or --label archives)";

/** Filesystem refusals that the archive's own content causes (names, links): exit 5, not 6. */
const ARCHIVE_CAUSED = new Set(["ENAMETOOLONG", "ELOOP", "ENOTDIR", "EISDIR", "EEXIST", "ENOENT", "EMLINK", "EINVAL", "EILSEQ"]);

function entryFsError(err: unknown, name: string): AppError {
  const code = (err as NodeJS.ErrnoException)?.code;
  if (!(err instanceof AppError) && code && ARCHIVE_CAUSED.has(code)) {
    return new ArchiveError(`archive entry ${JSON.stringify(name)} cannot be created: ${(err as Error).message}`, "the archive holds a name or link the filesystem refuses; rebuild the package");
  }
  return fromFsError(err, `writing ${JSON.stringify(name)}`);
}

/** How much of the end-of-archive marker (two zero blocks) the parser has seen. */
type EndMarker = "none" | "one-block" | "complete";

export class Extractor {
  readonly parser: Parser;
  readonly stats: ExtractStats = { entries: 0, files: 0, bytes: 0 };
  private failure?: AppError;
  private readonly tree = new StagingTree();
  /** Directories made in staging → the mode they get at the end. */
  private readonly dirModes = new Map<string, number>();
  private readonly root: string;
  private readonly opts: ExtractOptions;
  private readonly onError: (err: AppError) => void;
  private endMarker: EndMarker = "none";
  /** Symlinks made: without any, the realpath audit has nothing to look at. */
  private symlinksMade = 0;
  private lastEntry?: string;
  /** A PAX header announced GNU sparse data for the next entry. */
  private sparsePending = false;
  private inFlight = 0;
  private paused?: ReadEntry;
  private drained: (() => void)[] = [];

  constructor(root: string, opts: ExtractOptions, onError: (err: AppError) => void) {
    this.root = root;
    this.opts = opts;
    this.onError = onError;
    this.parser = new Parser({ brotli: false, zstd: false } as ConstructorParameters<typeof Parser>[0]);
    this.listen(this.parser);
  }

  private listen(p: Parser) {
    const fail = (err: AppError) => this.fail(err);
    p.on("warn", (code: string, message: string) => {
      // An archive of zero blocks only is a valid empty archive; node-tar calls it unrecognised.
      if (code === "TAR_BAD_ARCHIVE" && this.stats.entries === 0 && this.endMarker !== "none" && /Unrecognized archive format/.test(String(message))) return;
      fail(new ArchiveError(`corrupt tar archive: ${message}`, "the package is damaged or not a tar archive; rebuild it"));
    });
    p.on("error", (e: Error) => fail(new ArchiveError(`corrupt tar archive: ${e.message}`, "the package is damaged; rebuild it")));
    p.on("nullBlock", () => {
      if (this.endMarker === "none") this.endMarker = "one-block";
    });
    p.on("eof", () => (this.endMarker = "complete"));
    p.on("meta", (raw: string) => {
      if (this.failure) return;
      try {
        this.checkNotAfterZeroBlock();
      } catch (e) {
        return fail(e as AppError);
      }
      if (/(^|\n)\d+ GNU\.sparse\./.test(raw)) this.sparsePending = true;
      // A GNU long name or link (not PAX records) without its NUL: node-tar stops at the record's size, GNU tar reads on into the padding.
      if (!raw.includes("\0") && !/^\d+ [^=\n]+=[^]*\n$/.test(raw)) {
        fail(new ArchiveError(`corrupt tar archive: a long-name record${this.lastEntry ? ` after entry ${JSON.stringify(this.lastEntry)}` : ""} is not NUL-terminated (tar readers disagree on the name)`, "the archive is corrupt or crafted; rebuild it"));
      }
    });
    p.on("ignoredEntry", (entry: ReadEntry) => {
      const reason = TYPE_REASONS[entry.type] ?? (entry.meta ? `is a ${entry.type} header of ${entry.size} bytes, over node-tar's limit` : `has entry type ${entry.type}`);
      fail(new ArchiveError(`unsupported archive entry ${JSON.stringify(entry.path)}: ${reason}; only files, directories and links are extracted`, TYPE_HINT));
    });
    p.on("entry", (entry: ReadEntry) => {
      if (this.failure) return entry.resume();
      try {
        this.checkNotAfterZeroBlock();
        this.onEntry(entry);
      } catch (e) {
        entry.resume();
        fail(entryFsError(e, entry.path));
      }
    });
  }

  /** GNU tar stops at the first zero block; node-tar reads on. Never let the two disagree. */
  private checkNotAfterZeroBlock() {
    if (this.endMarker !== "one-block") return;
    throw new ArchiveError(`corrupt tar archive: a zero block${this.lastEntry ? ` after entry ${JSON.stringify(this.lastEntry)}` : ""} is followed by more entries (GNU tar would stop there)`, "the package is damaged or two archives were concatenated; rebuild it");
  }

  /** Feed tar bytes to the parser; false when it wants a 'drain' first. */
  write(chunk: Buffer): boolean {
    try {
      return this.parser.write(chunk);
    } catch (e) {
      this.failFromParser(e);
      return true;
    }
  }

  end() {
    try {
      this.parser.end();
    } catch (e) {
      this.failFromParser(e);
    }
  }

  /** A PAX header refused by strict-tar.ts surfaces as an exception out of the parser; anything else is a bug. */
  private failFromParser(e: unknown) {
    if (!(e instanceof TarDisagreement)) throw e;
    const where = this.lastEntry ? ` after entry ${JSON.stringify(this.lastEntry)}` : "";
    this.fail(new ArchiveError(`corrupt tar archive: a PAX header${where} that GNU tar would read differently: ${e.message}`, "the archive is corrupt or crafted; rebuild it"));
  }

  /** The parser has read the whole end-of-archive marker: what follows is not part of the archive. */
  get ended(): boolean {
    return this.endMarker === "complete";
  }

  fail(err: AppError) {
    if (this.failure) return;
    this.failure = err;
    this.parser.abort(err);
    this.onError(err);
  }

  private refuse(entry: ReadEntry, reason: string, hint = "the archive is unsafe; rebuild it with relative paths that stay inside it", kind = "unsafe"): never {
    throw new ArchiveError(`${kind} archive entry ${JSON.stringify(entry.path)}: ${reason}`, hint);
  }

  private onEntry(entry: ReadEntry) {
    const o = this.opts;
    this.lastEntry = entry.path;
    if (++this.stats.entries > o.maxEntries) throw new ArchiveError(`archive has more than ${o.maxEntries} entries`, "raise PACKAGE_MAX_ENTRIES if the package is legitimate");
    if (this.sparsePending) this.refuse(entry, "is a GNU sparse file (PAX GNU.sparse records)", TYPE_HINT, "unsupported");
    const ex = (entry.extended ?? {}) as unknown as Record<string, string | undefined>;
    // A GNU long-name record after a PAX header: node-tar takes the long name, GNU tar the PAX one.
    if ((ex[PAX_PATH] !== undefined && ex[PAX_PATH] !== entry.path) || (ex[PAX_LINKPATH] !== undefined && ex[PAX_LINKPATH] !== entry.linkpath)) {
      this.refuse(entry, "has both a PAX path and a GNU long-name record (tar readers disagree on which wins)", "the archive is corrupt or crafted; rebuild it");
    }
    // node-tar decodes names as UTF-8, replacing invalid bytes; GNU tar keeps the bytes.
    if (`${entry.path}\0${entry.linkpath ?? ""}`.includes("\uFFFD")) this.refuse(entry, "has a name or link target that is not valid UTF-8", "rebuild the package with UTF-8 file names");
    const verdict = entryPath(entry.path, o.stripComponents, o.maxPathLength);
    if (!verdict.ok) this.refuse(entry, verdict.reason);
    if ("skip" in verdict) return entry.resume();
    const rel = verdict.rel;
    for (const a of ancestors(rel)) {
      const kind = this.tree.get(a)?.kind;
      if (kind === "link") this.refuse(entry, `would be written through the symlink ${JSON.stringify(a)} made earlier in the archive`);
      if (kind === "file") this.refuse(entry, `needs ${JSON.stringify(a)} to be a directory, but the archive made it a file`);
    }
    const full = path.join(this.root, rel);
    if (Buffer.byteLength(full) >= PATH_MAX) this.refuse(entry, `is ${Buffer.byteLength(full)} bytes long once placed under the destination, over the system's PATH_MAX (${PATH_MAX})`, "shorten the package's paths or use a shorter PACKAGE_DEST");
    const mode = (entry.mode ?? 0) & 0o777; // setuid, setgid and sticky bits are always dropped; a blank field is 0, as GNU tar reads it
    switch (entry.type) {
      case "File":
      case "OldFile":
      case "ContiguousFile":
        // node-tar turns only type '0' named "x/" into a directory; GNU tar any regular type.
        if (entry.path.endsWith("/")) this.refuse(entry, "is a regular file whose name ends with '/' (tar readers disagree on what it is)", "the archive is corrupt or crafted; rebuild it");
        return this.writeFile(entry, rel, full, o.fileMode >= 0 ? o.fileMode : mode);
      case "Directory":
        if (this.tree.get(rel) && this.tree.get(rel)?.kind !== "dir") this.refuse(entry, "replaces a file or symlink made earlier in the archive with a directory");
        this.mkdirp(rel);
        this.dirModes.set(rel, o.dirMode >= 0 ? o.dirMode : mode);
        return entry.resume();
      case "SymbolicLink":
      case "Link":
        // POSIX says a link's size is zero; GNU tar then reads the next block as a header, node-tar skips "data": refuse the ambiguity.
        if (entry.size > 0) this.refuse(entry, `is a link with a size of ${entry.size} bytes (links carry no data; tar readers disagree on what follows)`, "the archive is corrupt or crafted; rebuild it");
        if (entry.type === "Link") this.makeHardlink(entry, rel, full);
        else this.makeSymlink(entry, rel, full);
        return entry.resume();
      case "CharacterDevice":
      case "BlockDevice":
      case "FIFO":
        this.refuse(entry, `is a ${entry.type} entry; packages may hold only files, directories and links`, "remove device and FIFO entries from the package");
      default:
        this.refuse(entry, `${TYPE_REASONS[entry.type] ?? `has entry type ${entry.type}`}; only files, directories and links are extracted`, TYPE_HINT, "unsupported");
    }
  }

  private makeSymlink(entry: ReadEntry, rel: string, full: string) {
    const target = entry.linkpath ?? "";
    if (Buffer.byteLength(target) >= PATH_MAX) this.refuse(entry, `is a symlink whose target is over the system's PATH_MAX (${PATH_MAX} bytes)`);
    this.prepareLeaf(entry, rel, full);
    const r = this.tree.addLink(rel, target);
    if (!r.ok) this.refuse(entry, r.reason);
    fs.symlinkSync(target, full);
    this.symlinksMade++;
    this.chown(full, true);
  }

  private makeHardlink(entry: ReadEntry, rel: string, full: string) {
    const o = this.opts;
    const t = entryPath(entry.linkpath ?? "", o.stripComponents, o.maxPathLength);
    if (!t.ok) this.refuse(entry, `is a hardlink whose target ${JSON.stringify(entry.linkpath)} ${/absolute|'\.\.'|drive/.test(t.reason) ? "leaves the destination" : t.reason}`);
    if ("skip" in t) this.refuse(entry, `is a hardlink whose target ${JSON.stringify(entry.linkpath)} leaves the destination`);
    if (t.rel === rel) this.refuse(entry, "is a hardlink to itself");
    if (this.tree.get(t.rel)?.kind !== "file") this.refuse(entry, `is a hardlink to ${JSON.stringify(entry.linkpath)}, which is not a regular file earlier in the archive`);
    this.prepareLeaf(entry, rel, full);
    fs.linkSync(path.join(this.root, t.rel), full);
    this.tree.set(rel, { kind: "file" });
  }

  private mkdirp(rel: string) {
    for (const d of [...ancestors(rel), rel]) {
      if (this.tree.get(d)?.kind === "dir") continue;
      const full = path.join(this.root, d);
      try {
        fs.mkdirSync(full, { mode: 0o700 });
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== "EEXIST" || !fs.lstatSync(full).isDirectory()) throw e;
      }
      this.tree.set(d, { kind: "dir" });
      this.dirModes.set(d, 0o755); // implied parents get the usual mode; an explicit entry overrides
    }
  }

  /**
   * Parent directories exist; a file the archive put at this name before is replaced (later
   * entries win, as with tar). A directory or symlink is not: links already judged may go
   * through it, and GNU tar restores a symlink whose target has '..' over a later file.
   */
  private prepareLeaf(entry: ReadEntry, rel: string, full: string) {
    const old = this.tree.get(rel);
    if (old?.kind === "dir") this.refuse(entry, "replaces a directory made earlier in the archive");
    if (old?.kind === "link") this.refuse(entry, `replaces the symlink ${JSON.stringify(rel)} made earlier in the archive`, "keep one entry per name in the package");
    this.mkdirp(parentOf(rel));
    if (!old) return;
    fs.unlinkSync(full);
    this.tree.delete(rel);
  }

  private writeFile(entry: ReadEntry, rel: string, full: string, mode: number) {
    const o = this.opts;
    if (entry.size > o.maxEntryBytes) throw new ArchiveError(`archive entry ${JSON.stringify(entry.path)} is ${entry.size} bytes, over the ${o.maxEntryBytes}-byte limit`, "raise PACKAGE_MAX_ENTRY_BYTES if the package is legitimate");
    if (this.stats.bytes + entry.size > o.maxBytes) throw new ArchiveError(`archive expands to more than ${o.maxBytes} bytes`, "raise PACKAGE_MAX_BYTES if the package is legitimate");
    this.stats.bytes += entry.size;
    this.prepareLeaf(entry, rel, full);
    // O_EXCL|O_NOFOLLOW: never open through a symlink, never reuse an inode a hardlink shares.
    const fd = fs.openSync(full, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW, mode);
    this.tree.set(rel, { kind: "file" });
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
          this.fail(entryFsError(e, rel));
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

  /**
   * Wait for every write; require the end-of-archive marker; check every symlink with the
   * real filesystem; then apply directory modes (deepest first) and ownership.
   */
  async finish() {
    if (this.inFlight > 0) await new Promise<void>((resolve) => this.drained.push(resolve));
    if (this.failure) throw this.failure;
    // GNU tar writes two zero blocks; one is accepted (the entries are all there), none is a cut.
    if (this.endMarker === "none") {
      throw new ArchiveError(`truncated tar archive: it ends ${this.lastEntry ? `after entry ${JSON.stringify(this.lastEntry)} ` : ""}without the end-of-archive marker`, "the package was cut short (an interrupted upload or copy?); rebuild or re-upload it");
    }
    let escaping;
    try {
      escaping = this.symlinksMade > 0 ? findEscapingSymlink(this.root) : undefined;
    } catch (e) {
      throw fromFsError(e, "checking the extracted symlinks");
    }
    if (escaping) throw new ArchiveError(`unsafe archive entry ${JSON.stringify(escaping.link)}: ${escaping.reason}`, "the archive is unsafe; rebuild it with symlinks that stay inside it");
    const dirs = [...this.dirModes.entries()].sort((a, b) => b[0].length - a[0].length);
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
