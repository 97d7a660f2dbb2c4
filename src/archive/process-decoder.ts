// xz and bzip2 are decompressed by the system's own decoder (xz-utils, bzip2 or busybox) as a
// subprocess: bytes in on stdin, bytes out on stdout, exactly `curl | xz -dc | tar`. The child
// gets no environment but PATH and LC_ALL: it never sees a credential. Destroying the stream
// (a failure, or a restart that drops the sink) kills the child; Node reaps it (no zombie).

import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { Duplex } from "node:stream";
import { onPath } from "../transfer/transports/subprocess.ts";
import { ArchiveError } from "../errors.ts";

export type ProcessFormat = "xz" | "bzip2";

/** Program and arguments that decompress stdin to stdout, in the order they are tried. */
const CANDIDATES: Record<ProcessFormat, { program: string; args: string[] }[]> = {
  xz: [
    { program: "xz", args: ["-dc"] },
    { program: "unxz", args: ["-c"] },
    { program: "xzcat", args: [] },
    { program: "busybox", args: ["xzcat"] },
  ],
  bzip2: [
    { program: "bzip2", args: ["-dc"] },
    { program: "bunzip2", args: ["-c"] },
    { program: "bzcat", args: [] },
    { program: "busybox", args: ["bzcat"] },
  ],
};

const INSTALL_HINT: Record<ProcessFormat, string> = {
  xz: "install xz-utils (Debian/Ubuntu), xz (Alpine/RHEL) or busybox with the xzcat applet in the image, or repackage as .tar.gz or .tar.zst",
  bzip2: "install bzip2 (Debian/Ubuntu/Alpine/RHEL) or busybox with the bzcat applet in the image, or repackage as .tar.gz or .tar.zst",
};

function busyboxHas(path: string, applet: string): boolean {
  const r = spawnSync(path, ["--list"], { encoding: "utf8", env: {}, timeout: 5000 });
  return r.status === 0 && r.stdout.split("\n").includes(applet);
}

/** The decoder found on PATH, or an ArchiveError naming what to install. */
export function findDecoder(format: ProcessFormat, env: NodeJS.ProcessEnv = process.env): { path: string; args: string[] } {
  for (const c of CANDIDATES[format]) {
    const found = onPath(c.program, env);
    if (!found) continue;
    if (c.program === "busybox" && !busyboxHas(found, c.args[0])) continue;
    return { path: found, args: c.args };
  }
  const names = [...new Set(CANDIDATES[format].map((c) => c.program))].join(", ");
  throw new ArchiveError(`the package is ${format} data and no ${format} decoder is on PATH (looked for ${names})`, INSTALL_HINT[format]);
}

/** A Duplex over the decoder process: write compressed bytes, read decompressed ones. */
export class ProcessDecoder extends Duplex {
  private readonly child: ChildProcess;
  private readonly format: ProcessFormat;
  private stderr = "";

  constructor(format: ProcessFormat, decoder: { path: string; args: string[] }) {
    super({ readableHighWaterMark: 256 * 1024, writableHighWaterMark: 256 * 1024 });
    this.format = format;
    this.child = spawn(decoder.path, decoder.args, { stdio: ["pipe", "pipe", "pipe"], env: { PATH: process.env.PATH ?? "/usr/bin:/bin", LC_ALL: "C" } });
    const { stdin, stdout, stderr } = this.child;
    // EPIPE when the decoder stops reading (it found corrupt data): its exit status says why.
    stdin!.on("error", () => {});
    stderr!.on("data", (d: Buffer) => {
      if (this.stderr.length < 4096) this.stderr += d.toString();
    });
    stdout!.on("data", (d: Buffer) => {
      if (!this.push(d)) stdout!.pause();
    });
    this.child.once("error", (e) => this.destroy(new ArchiveError(`cannot run the ${format} decoder ${decoder.path}: ${e.message}`, INSTALL_HINT[format])));
    this.child.once("close", (code, signal) => this.onExit(code, signal));
  }

  private onExit(code: number | null, signal: NodeJS.Signals | null) {
    if (this.destroyed) return;
    if (code === 0) {
      this.push(null);
      return;
    }
    const why = this.stderr.trim().split("\n").pop() || (signal ? `killed by ${signal}` : `exit status ${code}`);
    this.destroy(new ArchiveError(`corrupt ${this.format} data: ${why}`, "the package is damaged or truncated; rebuild or re-upload it"));
  }

  override _read() {
    this.child.stdout!.resume();
  }

  override _write(chunk: Buffer, _enc: BufferEncoding, cb: (err?: Error | null) => void) {
    const stdin = this.child.stdin!;
    if (stdin.destroyed) return cb(); // the decoder is gone; close() reports why
    if (stdin.write(chunk)) return cb();
    const done = () => {
      stdin.off("drain", done);
      stdin.off("close", done);
      cb();
    };
    stdin.on("drain", done);
    stdin.on("close", done);
  }

  override _final(cb: (err?: Error | null) => void) {
    this.child.stdin!.end();
    cb();
  }

  override _destroy(err: Error | null, cb: (err?: Error | null) => void) {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill("SIGKILL");
    cb(err);
  }
}
