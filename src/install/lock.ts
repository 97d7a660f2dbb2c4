// An exclusive lock on one destination, shared by processes and Pods that mount the same
// volume (Node has no flock, and flock does not cross NFS anyway). The lock is a file,
// DEST/.download-package/lock, holding a lease: who holds it and until when. It is created
// by hard-linking a fully written file (link fails if the name exists: atomic, no
// half-written lock is ever visible); the holder renews the lease every few seconds by
// renaming a new file over it. Another run waits; it takes over only a stale lease: expired,
// or held by a process of this host and PID namespace that no longer runs.

import crypto from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { fromFsError, LocalIOError, SignalError } from "../errors.ts";
import type { Logger } from "../log.ts";
import { writeFileAtomic } from "../util/atomic-file.ts";

export const LOCK_FILE = "lock";
export const LEASE_MS = 30_000;
const RENEW_MS = 5_000;
const MAX_AHEAD_MS = 10 * LEASE_MS;
/** link() answers these on filesystems without hard links (some FUSE and SMB mounts). */
const NO_LINKS = new Set(["EPERM", "ENOTSUP", "EOPNOTSUPP", "ENOSYS", "EMLINK"]);
const POLL_MS = 200;

export interface Lease {
  owner: string;
  pid: number;
  hostname: string;
  /** /proc/self/ns/pid: PIDs compare only inside one namespace. */
  pidNamespace?: string;
  /** Start time of the process (/proc/PID/stat), so a reused PID is not taken for the holder. */
  processStart?: string;
  acquiredAt: string;
  /** Epoch milliseconds. */
  expiresAt: number;
}

export interface Here {
  hostname: string;
  pidNamespace?: string;
  /** Whether a PID of this namespace runs, and since when (undefined: it does not run). */
  probe(pid: number): { start?: string } | undefined;
}

/** Why `lease` is stale, or undefined while it is live. Pure given `here`. */
export function staleReason(lease: Lease, here: Here, now: number): string | undefined {
  if (!Number.isFinite(lease.expiresAt)) return "its lease has no valid expiry";
  if (lease.expiresAt <= now) return `its lease expired at ${new Date(lease.expiresAt).toISOString()}`;
  // No renewal reaches this far ahead: a damaged lease, or a clock far ahead of ours.
  if (lease.expiresAt > now + MAX_AHEAD_MS) return `its lease claims an expiry (${new Date(lease.expiresAt).toISOString()}) no renewal gives`;
  if (lease.hostname !== here.hostname || !lease.pidNamespace || lease.pidNamespace !== here.pidNamespace) return undefined;
  const proc = here.probe(lease.pid);
  if (!proc) return `its process ${lease.pid} no longer runs`;
  if (lease.processStart && proc.start && proc.start !== lease.processStart) return `its process ${lease.pid} no longer runs (the PID was reused)`;
  return undefined;
}

export function describeHolder(l: Lease): string {
  return `pid ${l.pid} on host ${l.hostname} (owner ${l.owner.slice(0, 8)}, since ${l.acquiredAt})`;
}

function processStart(pid: number): string | undefined {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, "utf8");
    return stat.slice(stat.lastIndexOf(")") + 2).split(" ")[19];
  } catch {
    return undefined;
  }
}

function readlink(p: string): string | undefined {
  try {
    return fs.readlinkSync(p);
  } catch {
    return undefined;
  }
}

export const thisHost: Here = {
  hostname: os.hostname(),
  pidNamespace: readlink("/proc/self/ns/pid"),
  probe(pid) {
    try {
      process.kill(pid, 0);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === "ESRCH") return undefined;
    }
    return { start: processStart(pid) };
  },
};

function readLease(file: string): { lease: Lease; raw: string } | undefined {
  let raw: string;
  try {
    raw = fs.readFileSync(file, "utf8");
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw e;
  }
  try {
    const lease = JSON.parse(raw) as Lease;
    if (typeof lease.owner === "string" && typeof lease.expiresAt === "number") return { lease, raw };
  } catch {
    /* not ours, or damaged: judged by its age below */
  }
  const st = fs.statSync(file, { throwIfNoEntry: false });
  if (!st) return undefined;
  return { raw, lease: { owner: "unknown", pid: 0, hostname: "unknown", acquiredAt: st.mtime.toISOString(), expiresAt: st.mtimeMs + LEASE_MS } };
}

export interface AcquireOptions {
  /** Longest wait for another run's lock, in ms. */
  waitMs: number;
  /** The setting that bounds the wait, for the message (PACKAGE_LOCK_TIMEOUT or PACKAGE_TIMEOUT). */
  waitLimit: string;
  signal: AbortSignal;
  log: Logger;
  here?: Here;
}

export class DestinationLock {
  readonly file: string;
  private lease: Lease;
  private readonly stateDir: string;
  private timer?: NodeJS.Timeout;
  private readonly lostController = new AbortController();

  private constructor(stateDir: string, lease: Lease) {
    this.stateDir = stateDir;
    this.file = path.join(stateDir, LOCK_FILE);
    this.lease = lease;
  }

  /** Aborted (with a LocalIOError) when a renewal finds the lock in another run's hands. */
  get lost(): AbortSignal {
    return this.lostController.signal;
  }

  /** Take the lock on stateDir, waiting up to waitMs for another holder. */
  static async acquire(stateDir: string, opts: AcquireOptions): Promise<DestinationLock> {
    const here = opts.here ?? thisHost;
    const lock = new DestinationLock(stateDir, newLease(here));
    const giveUpAt = Date.now() + opts.waitMs;
    let announced = "";
    let holder: Lease | undefined;
    for (;;) {
      if (lock.tryCreate()) break;
      const seen = readLeaseOrThrow(lock.file);
      const stale = seen && staleReason(seen.lease, here, Date.now());
      if (seen && stale && lock.takeOver(seen.raw)) {
        opts.log.warn(`took over the lock of a run that is gone: ${stale}`, { holder: describeHolder(seen.lease) });
        break;
      }
      if (seen && !stale && announced !== seen.lease.owner) {
        opts.log.info("waiting for another run that holds the lock on this destination", { holder: describeHolder(seen.lease), waitUpTo: `${opts.waitMs / 1000}s` });
        announced = seen.lease.owner;
      }
      holder = seen?.lease ?? holder;
      const gaveUp = () => lockTimeout(stateDir, holder, opts);
      const left = giveUpAt - Date.now();
      if (left <= 0) throw gaveUp();
      // A lock that vanished or was just taken over is retried soon; a live one is polled.
      await waitOrGiveUp(Math.min(seen && !stale ? POLL_MS : 10, left), opts.signal, gaveUp);
    }
    lock.timer = setInterval(() => lock.renewQuietly(), RENEW_MS);
    lock.timer.unref();
    return lock;
  }

  /** Exclusive create: write the lease to a private file, then hard-link it to the lock's name. */
  private tryCreate(): boolean {
    const mine = path.join(this.stateDir, `${LOCK_FILE}-${this.lease.owner}.new`);
    try {
      this.lease = { ...this.lease, acquiredAt: new Date().toISOString(), expiresAt: Date.now() + LEASE_MS };
      const text = JSON.stringify(this.lease) + "\n";
      fs.writeFileSync(mine, text, { mode: 0o644 });
      try {
        fs.linkSync(mine, this.file);
      } catch (e) {
        if (!NO_LINKS.has((e as NodeJS.ErrnoException).code ?? "")) throw e;
        // A volume without hard links: exclusive create (a reader of the moment it is empty waits).
        fs.writeFileSync(this.file, text, { mode: 0o644, flag: "wx" });
      }
      return true;
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === "EEXIST" || (code === "ENOENT" && fs.existsSync(path.dirname(mine)))) return false;
      throw fromFsError(e, `locking ${path.dirname(this.stateDir)}`);
    } finally {
      fs.rmSync(mine, { force: true });
    }
  }

  /** Move the stale lock aside; if what was moved is not the stale lease judged, put it back. */
  private takeOver(staleRaw: string): boolean {
    const aside = path.join(this.stateDir, `${LOCK_FILE}-${this.lease.owner}.stale`);
    try {
      fs.renameSync(this.file, aside);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === "ENOENT") return false;
      throw fromFsError(e, `taking over the lock of ${path.dirname(this.stateDir)}`);
    }
    try {
      if (fs.readFileSync(aside, "utf8") !== staleRaw) {
        // Another run took it over first and renewed it: give it back (unless a third run got in).
        try {
          fs.linkSync(aside, this.file);
        } catch {
          /* the name is taken again: that holder will notice at its next renewal */
        }
        return false;
      }
      return this.tryCreate();
    } finally {
      fs.rmSync(aside, { force: true });
    }
  }

  /** Throw unless the lock file still holds this run's lease; then extend the lease. */
  renew(): void {
    const current = readLeaseOrThrow(this.file);
    if (current?.lease.owner !== this.lease.owner) {
      const err = new LocalIOError(
        `lost the lock on ${path.dirname(this.stateDir)}: ${current ? `another run took it over: ${describeHolder(current.lease)}` : "the lock file was removed"}`,
        "two runs share this destination and this one was stalled longer than the lease (30s); run it again",
      );
      this.lostController.abort(err);
      throw err;
    }
    this.lease = { ...this.lease, expiresAt: Date.now() + LEASE_MS };
    try {
      // A name of its own: a run that lost the lock must not write into another's temporary file.
      writeFileAtomic(this.file, JSON.stringify(this.lease) + "\n", { mode: 0o644, tmp: path.join(this.stateDir, `${LOCK_FILE}-${this.lease.owner}.new`) });
    } catch (e) {
      throw fromFsError(e, `renewing the lock on ${path.dirname(this.stateDir)}`);
    }
  }

  private renewQuietly() {
    try {
      this.renew();
    } catch {
      /* lost: the abort on `lost` stops the run; a failed write is retried at the next tick */
    }
  }

  /** Remove the lock if it is still this run's. Never throws. */
  release(): void {
    clearInterval(this.timer);
    try {
      if (readLease(this.file)?.lease.owner === this.lease.owner) fs.unlinkSync(this.file);
    } catch {
      /* best effort: a lease left behind expires, or its dead holder is detected */
    }
  }
}

function newLease(here: Here): Lease {
  return {
    owner: crypto.randomUUID(),
    pid: process.pid,
    hostname: here.hostname,
    pidNamespace: here.pidNamespace,
    processStart: processStart(process.pid),
    acquiredAt: new Date().toISOString(),
    expiresAt: 0,
  };
}

function readLeaseOrThrow(file: string) {
  try {
    return readLease(file);
  } catch (e) {
    throw fromFsError(e, `reading the lock ${file}`);
  }
}

function lockTimeout(stateDir: string, holder: Lease | undefined, opts: AcquireOptions): LocalIOError {
  const who = holder ? describeHolder(holder) : "its holder changed while waiting";
  return new LocalIOError(
    `${path.dirname(stateDir)} is locked by another download-package run: ${who}; gave up after ${opts.waitMs / 1000}s (${opts.waitLimit})`,
    `two runs share this destination; wait for the other one, stop it, or raise PACKAGE_LOCK_TIMEOUT (a holder that died is taken over once its ${LEASE_MS / 1000}s lease expires)`,
  );
}

/** Sleep; a signal stops the wait as itself, the run's deadline as the lock timeout it is. */
function waitOrGiveUp(ms: number, signal: AbortSignal, timeout: () => Error): Promise<void> {
  return new Promise((resolve, reject) => {
    const onAbort = () => {
      clearTimeout(t);
      reject(signal.reason instanceof SignalError ? signal.reason : timeout());
    };
    const t = setTimeout(() => {
      signal.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    if (signal.aborted) return onAbort();
    signal.addEventListener("abort", onAbort, { once: true });
  });
}
