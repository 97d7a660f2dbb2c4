// All-or-nothing installation into a directory that may itself be a mount point (an
// emptyDir), so it can never be renamed. Layout inside the destination:
//
//   DEST/.download-package/installed.json   marker of the complete install (URL, digest, time)
//   DEST/.download-package/lock             lease of the run working here (see lock.ts)
//   DEST/.download-package/staging-XXXX/    the package being extracted
//   DEST/.download-package/trash-XXXX/      the previous content, while it is being replaced
//
// The marker is removed before the swap and written (atomically) after it, so a crash in
// between leaves no marker and the next run reinstalls from scratch. Leftovers are removed
// on every run, only under the lock, whatever their modes.

import fs from "node:fs";
import path from "node:path";
import { ArchiveError, fromFsError, LocalIOError } from "../errors.ts";
import { LEASE_MS, LOCK_FILE } from "./lock.ts";
import { writeFileAtomic } from "../util/atomic-file.ts";
import { pseudoFsOf } from "./pseudo-fs.ts";
import { ensureDir, removeTree, renameKeepingMode } from "./tree.ts";

export const STATE_DIR = ".download-package";
const MARKER = "installed.json";

export interface Marker {
  urls: string[];
  /** The verified digest; absent when the package was installed without a checksum. */
  digest?: { algorithm: string; hex: string };
  installedAt: string;
  bytes: number;
  files: number;
  etag?: string;
  lastModified?: string;
}

const isLeftover = (name: string) => name.startsWith("staging-") || name.startsWith("trash-") || name.endsWith(".tmp");
/** A lock helper file of another run: only old ones are leftovers (a waiting run may be writing one). */
const isOldLockFile = (name: string, st: fs.Stats) => name.startsWith(`${LOCK_FILE}-`) && Date.now() - st.mtimeMs > LEASE_MS;

export class Installation {
  readonly dest: string;
  readonly stateDir: string;
  constructor(dest: string) {
    this.dest = path.resolve(dest);
    this.stateDir = path.join(this.dest, STATE_DIR);
  }

  /** Create the destination and its state directory; a kernel pseudo filesystem is refused first. */
  create(): void {
    const pseudo = pseudoFsOf(this.dest);
    if (pseudo) throw new LocalIOError(`${this.dest} is on a ${pseudo} pseudo filesystem, which cannot hold files`, "point PACKAGE_DEST at a real volume (an emptyDir)");
    try {
      ensureDir(this.stateDir, 0o755);
    } catch (e) {
      throw fromFsError(e, `creating ${this.stateDir}`);
    }
  }

  /** Remove what an interrupted run left behind (call it under the lock). Returns what was removed. */
  async prepare(): Promise<string[]> {
    const removed: string[] = [];
    try {
      for (const name of fs.readdirSync(this.stateDir)) {
        const full = path.join(this.stateDir, name);
        if (!isLeftover(name) && !isOldLockFile(name, fs.lstatSync(full))) continue;
        await removeTree(full);
        removed.push(name);
      }
      return removed;
    } catch (e) {
      throw fromFsError(e, `removing leftovers of an interrupted run in ${this.stateDir}`);
    }
  }

  readMarker(): Marker | undefined {
    try {
      return JSON.parse(fs.readFileSync(path.join(this.stateDir, MARKER), "utf8")) as Marker;
    } catch {
      return undefined;
    }
  }

  newStaging(): string {
    try {
      return fs.mkdtempSync(path.join(this.stateDir, "staging-"));
    } catch (e) {
      throw fromFsError(e, `creating a staging directory in ${this.dest}`);
    }
  }

  /** Remove a staging or trash directory. Never throws: what is left is a leftover for the next run. */
  async discard(dir: string): Promise<Error | undefined> {
    try {
      await removeTree(dir);
      return undefined;
    } catch (e) {
      return fromFsError(e, `removing ${dir}`);
    }
  }

  /**
   * Replace the destination's content with the staging directory's, then record the marker.
   * Returns the trash directory holding the previous content, for the caller to discard.
   * When a move fails, what was moved is moved back and the error is thrown.
   */
  commit(staging: string, marker: Marker): string {
    const previous = this.readMarker();
    let names: string[], old: string[], trash: string;
    try {
      fs.chmodSync(staging, 0o700); // entries leave it: it must be writable whatever mode "./" asked for
      names = fs.readdirSync(staging);
      if (names.includes(STATE_DIR)) throw new ArchiveError(`unsafe archive entry "${STATE_DIR}": the name of download-package's own state directory`, "rename that directory in the package");
      old = fs.readdirSync(this.dest).filter((n) => n !== STATE_DIR);
      fs.rmSync(path.join(this.stateDir, MARKER), { force: true });
      trash = fs.mkdtempSync(path.join(this.stateDir, "trash-"));
    } catch (e) {
      throw fromFsError(e, `installing into ${this.dest}`);
    }
    const movedOut = moveAll(old, this.dest, trash);
    const movedIn = movedOut.error ? { done: [] } : moveAll(names, staging, this.dest);
    const failure = movedOut.error ?? movedIn.error;
    if (failure) {
      // Roll back: the previous content, and its marker, stay what the main containers see.
      const back = [moveAll(movedIn.done, this.dest, staging), moveAll(movedOut.done, trash, this.dest)];
      if (!back.some((b) => b.error)) this.restore(trash, previous);
      throw fromFsError(failure, `installing into ${this.dest}`);
    }
    try {
      this.writeMarker(marker);
    } catch (e) {
      throw fromFsError(e, `writing the marker in ${this.stateDir}`);
    }
    return trash;
  }

  private writeMarker(marker: Marker) {
    writeFileAtomic(path.join(this.stateDir, MARKER), JSON.stringify(marker, null, 2) + "\n", { mode: 0o644 });
  }

  /** After a rollback: drop the (empty) trash, put the previous marker back. Best effort. */
  private restore(trash: string, previous: Marker | undefined) {
    try {
      fs.rmdirSync(trash);
      if (previous) this.writeMarker(previous);
    } catch {
      /* without a marker the next run installs again: safe */
    }
  }
}

/** Move each name from one directory to another, stopping at the first failure. */
function moveAll(names: string[], from: string, to: string): { done: string[]; error?: unknown } {
  const done: string[] = [];
  for (const name of names) {
    try {
      renameKeepingMode(path.join(from, name), path.join(to, name));
      done.push(name);
    } catch (error) {
      return { done, error };
    }
  }
  return { done };
}
