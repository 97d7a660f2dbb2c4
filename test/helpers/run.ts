// Runs the program under test as a user would: a separate process, env and flags.
// DP_TARGET picks the target: the esbuild bundle (default) or the single executable.
// DP_AS_USER=65532 runs it as that user (through setpriv, as the image does), and makes
// every temporary directory the tests create belong to that user.

import { spawn, spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";

export const ROOT = path.resolve(import.meta.dirname, "../..");
export const TARGET = process.env.DP_TARGET ? path.resolve(ROOT, process.env.DP_TARGET) : path.join(ROOT, "dist/download-package.cjs");

export interface RunResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  ms: number;
}

/** The environment a test run starts from: no proxies or PACKAGE_* leaking in from the developer's shell. */
export function cleanEnv(extra: Record<string, string | undefined> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (/^(PACKAGE_|LOG_FORMAT$|NODE_EXTRA_CA_CERTS$)|_proxy$/i.test(k)) continue;
    env[k] = v;
  }
  return { ...env, PACKAGE_BACKOFF: "50ms", PACKAGE_BACKOFF_MAX: "200ms", ...extra };
}

/** The user every run and temporary directory belongs to (DP_AS_USER), or undefined: the test's own. */
export const AS_USER = process.env.DP_AS_USER ? Number(process.env.DP_AS_USER) : undefined;
/** Why tests that switch users cannot run here (false when they can). */
export const CANNOT_SWITCH_USER = process.getuid?.() !== 0 ? "needs root to switch users" : spawnSync("setpriv", ["--version"]).status !== 0 ? "setpriv (util-linux) is not installed" : false;

if (AS_USER !== undefined && CANNOT_SWITCH_USER) throw new Error(`DP_AS_USER=${AS_USER}: ${CANNOT_SWITCH_USER}`);

const asUserPaths = new Map<number, { node: string; target: string }>();
/** The node binary and target, readable by `uid`: as they are, or copied to a world-readable temp dir. */
function pathsFor(uid: number): { node: string; target: string } {
  let p = asUserPaths.get(uid);
  if (p) return p;
  const ids = ["--reuid", String(uid), "--regid", String(uid), "--clear-groups"];
  const usable = (f: string, test: string) => spawnSync("setpriv", [...ids, "test", test, f]).status === 0;
  const copy = (f: string) => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "dp-as-user-"));
    process.on("exit", () => fs.rmSync(dir, { recursive: true, force: true }));
    fs.chmodSync(dir, 0o755);
    const to = path.join(dir, path.basename(f));
    fs.copyFileSync(f, to);
    fs.chmodSync(to, 0o755);
    return to;
  };
  p = { node: usable(process.execPath, "-x") ? process.execPath : copy(process.execPath), target: usable(TARGET, "-r") ? TARGET : copy(TARGET) };
  asUserPaths.set(uid, p);
  return p;
}

/** The command line that runs the target with `args`, as `asUser` when given. */
export function command(args: string[], asUser = AS_USER): [string, string[]] {
  const paths = asUser === undefined ? { node: process.execPath, target: TARGET } : pathsFor(asUser);
  const [cmd, argv]: [string, string[]] = paths.target.endsWith(".cjs") || paths.target.endsWith(".js") ? [paths.node, [paths.target, ...args]] : [paths.target, args];
  if (asUser === undefined) return [cmd, argv];
  return ["setpriv", ["--reuid", String(asUser), "--regid", String(asUser), "--clear-groups", cmd, ...argv]];
}

export interface RunOptions {
  onSpawn?: (pid: number) => void;
  timeoutMs?: number;
  /** Run as this UID/GID (default: DP_AS_USER, else the test's own user). */
  asUser?: number;
  /** Leave the destination's owners as the test made them (by default they become the run's user's). */
  keepOwners?: boolean;
}

/** Files a test prepared for a run as another user (the destination, the termination log) become that user's. */
function handOver(env: Record<string, string | undefined>, uid: number) {
  for (const f of [env.PACKAGE_DEST, env.PACKAGE_TERMINATION_LOG]) {
    if (!f || !path.resolve(f).startsWith(os.tmpdir() + path.sep) || !fs.existsSync(f)) continue;
    spawnSync("chown", ["-R", "-h", `${uid}:${uid}`, f]);
  }
}

export function runDp(env: Record<string, string | undefined>, args: string[] = [], opts: RunOptions = {}): Promise<RunResult> {
  const started = Date.now();
  const asUser = opts.asUser ?? AS_USER;
  if (asUser !== undefined && !opts.keepOwners) handOver(env, asUser);
  const [cmd, argv] = command(args, asUser);
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, argv, { env: cleanEnv(env), stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d) => (stdout += d));
    child.stderr.on("data", (d) => (stderr += d));
    child.on("error", reject);
    if (child.pid) opts.onSpawn?.(child.pid);
    const timer = setTimeout(() => child.kill("SIGKILL"), opts.timeoutMs ?? 60_000);
    child.on("close", (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr, ms: Date.now() - started });
    });
  });
}

const madeDirs: string[] = [];

/** Mount points under `dir` (a test that failed before its umount): such a tree is left alone. */
function holdsMount(dir: string): boolean {
  let mounts = "";
  try {
    mounts = fs.readFileSync("/proc/self/mounts", "utf8");
  } catch {
    return true; // cannot tell: keep it
  }
  const points = mounts.split("\n").map((l) => (l.split(" ")[1] ?? "").replace(/\\([0-7]{3})/g, (_, o) => String.fromCharCode(parseInt(o, 8))));
  return points.some((p) => p === dir || p.startsWith(dir + path.sep));
}

// Every directory tmpdir() made goes when the test process exits, passed or failed (DP_KEEP_TMP=1 keeps them).
process.on("exit", () => {
  if (process.env.DP_KEEP_TMP === "1") return;
  for (const dir of madeDirs) {
    if (holdsMount(dir)) continue;
    try {
      fs.rmSync(dir, { recursive: true, force: true });
    } catch {
      spawnSync("chmod", ["-R", "u+rwx", dir]); // read-only trees, when the tests do not run as root
      try {
        fs.rmSync(dir, { recursive: true, force: true });
      } catch {
        /* left for the machine's tmp cleaner; never fail a test run over it */
      }
    }
  }
});

/** A fresh temporary directory, owned by `owner` (default: DP_AS_USER) when given; removed when the test process exits. */
export function tmpdir(prefix = "dp-test-", owner = AS_USER): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  madeDirs.push(dir);
  if (owner !== undefined) fs.chownSync(dir, owner, owner);
  return dir;
}

/** Every file under dir (relative path → type, mode, content or link target), for exact tree comparisons. */
export function snapshot(dir: string, skip = new Set([".download-package"])): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (rel: string) => {
    for (const name of fs.readdirSync(path.join(dir, rel)).sort()) {
      if (rel === "" && skip.has(name)) continue;
      const r = rel ? `${rel}/${name}` : name;
      const full = path.join(dir, r);
      const st = fs.lstatSync(full);
      const mode = (st.mode & 0o7777).toString(8);
      if (st.isSymbolicLink()) out[r] = `link -> ${fs.readlinkSync(full)}`;
      else if (st.isDirectory()) {
        out[r] = `dir ${mode}`;
        walk(r);
      } else out[r] = `file ${mode} ${fs.readFileSync(full).toString("base64").slice(0, 200)} ${st.size}`;
    }
  };
  walk("");
  return out;
}

/** Run any command without blocking the event loop (the tests' own servers must keep answering). */
export function exec(cmd: string, args: string[], opts: { env?: NodeJS.ProcessEnv; input?: string; cwd?: string } = {}): Promise<{ status: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { env: opts.env ?? process.env, cwd: opts.cwd, stdio: ["pipe", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d) => (stdout += d));
    child.stderr.on("data", (d) => (stderr += d));
    child.on("error", reject);
    child.stdin.end(opts.input ?? "");
    child.on("close", (status) => resolve({ status, stdout, stderr }));
  });
}

/** Snapshot every process's command line (as `ps` would show it) until stop() is called. */
export function watchCommandLines(intervalMs = 25): { stop(): Promise<string[]> } {
  const seen: string[] = [];
  let polling = true;
  const loop = (async () => {
    while (polling) {
      for (const pid of fs.readdirSync("/proc").filter((p) => /^\d+$/.test(p))) {
        try {
          seen.push(fs.readFileSync(`/proc/${pid}/cmdline`, "utf8").replace(/\0/g, " "));
        } catch {
          /* the process exited */
        }
      }
      await new Promise((r) => setTimeout(r, intervalMs));
    }
  })();
  return {
    stop: async () => {
      polling = false;
      await loop;
      return seen;
    },
  };
}
