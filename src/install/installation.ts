// All-or-nothing installation into a directory that may itself be a mount point (an
// emptyDir), so it can never be renamed. Layout inside the destination:
//
//   DEST/.download-package/installed.json   marker of the complete install (URL, digest, time)
//   DEST/.download-package/staging-XXXX/    the package being extracted
//   DEST/.download-package/trash-XXXX/      the previous content, while it is being replaced
//
// The marker is removed before the swap and written (atomically) after it, so a crash in
// between leaves no marker and the next run reinstalls from scratch; leftovers are removed
// first on every run.

import fs from "node:fs";
import path from "node:path";
import { fromFsError } from "../errors.ts";

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

export class Installation {
  readonly dest: string;
  readonly stateDir: string;
  constructor(dest: string) {
    this.dest = path.resolve(dest);
    this.stateDir = path.join(this.dest, STATE_DIR);
  }

  /** Create the destination if needed and remove what an interrupted run left behind. Returns what was removed. */
  prepare(): string[] {
    try {
      fs.mkdirSync(this.stateDir, { recursive: true, mode: 0o755 });
      const removed: string[] = [];
      for (const name of fs.readdirSync(this.stateDir)) {
        if (name.startsWith("staging-") || name.startsWith("trash-") || name.endsWith(".tmp")) {
          fs.rmSync(path.join(this.stateDir, name), { recursive: true, force: true });
          removed.push(name);
        }
      }
      return removed;
    } catch (e) {
      throw fromFsError(e, `preparing ${this.dest}`);
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

  discard(staging: string) {
    fs.rmSync(staging, { recursive: true, force: true });
  }

  /** Replace the destination's content with the staging directory's, then record the marker. */
  commit(staging: string, marker: Marker) {
    try {
      fs.rmSync(path.join(this.stateDir, MARKER), { force: true });
      const trash = fs.mkdtempSync(path.join(this.stateDir, "trash-"));
      for (const name of fs.readdirSync(this.dest)) {
        if (name !== STATE_DIR) fs.renameSync(path.join(this.dest, name), path.join(trash, name));
      }
      for (const name of fs.readdirSync(staging)) fs.renameSync(path.join(staging, name), path.join(this.dest, name));
      const tmp = path.join(this.stateDir, `${MARKER}.tmp`);
      fs.writeFileSync(tmp, JSON.stringify(marker, null, 2) + "\n", { mode: 0o644 });
      fs.renameSync(tmp, path.join(this.stateDir, MARKER));
      fs.rmSync(staging, { recursive: true, force: true });
      fs.rmSync(trash, { recursive: true, force: true });
    } catch (e) {
      throw fromFsError(e, `installing into ${this.dest}`);
    }
  }
}
