// The installation step under pressure: read-only modes as a non-root user, two runs on one
// destination, destinations that cannot hold files, signals and deadlines. Everything the
// non-root cases need runs as UID 65532 (the image's user) whatever DP_AS_USER says; the
// rest runs as DP_AS_USER (npm run test:as-user runs this whole file as 65532).

import assert from "node:assert/strict";
import { execFileSync, spawn, type ChildProcess } from "node:child_process";
import crypto from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { makeTree, rawTar, tarOf, type RawEntry } from "./helpers/fixtures.ts";
import { AS_USER, CANNOT_SWITCH_USER, cleanEnv, command, runDp, snapshot, tmpdir } from "./helpers/run.ts";
import { startServer, type TestServer } from "./helpers/server.ts";

const NONROOT = 65532;
let srv: TestServer;
before(async () => (srv = await startServer()));
after(() => srv.close());

const sha = (b: Buffer) => crypto.createHash("sha256").update(b).digest("hex");
const stateOf = (dest: string) => fs.readdirSync(path.join(dest, ".download-package")).sort();
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Make `p` (and everything under it) belong to `uid`, as files a run of that user left behind. */
function chownTree(p: string, uid: number | undefined) {
  if (uid !== undefined) execFileSync("chown", ["-R", `${uid}:${uid}`, p]);
}

/** A tree of read-only directories (0555), each holding a file, nested. */
function readOnlyTar(tag: string): Buffer {
  const entries: RawEntry[] = [
    { name: "ro/", type: "5", mode: 0o555 },
    { name: "ro/sub/", type: "5", mode: 0o555 },
    { name: "ro/sub/deeper/", type: "5", mode: 0o500 },
    { name: "ro/a.txt", content: `a ${tag}\n`, mode: 0o444 },
    { name: "ro/sub/b.txt", content: `b ${tag}\n`, mode: 0o444 },
    { name: "ro/sub/deeper/c.txt", content: `c ${tag}\n`, mode: 0o400 },
    { name: `only-${tag}.txt`, content: tag },
  ];
  return rawTar(entries);
}

let n = 0;
function route(body: Buffer, extra: Partial<Parameters<TestServer["route"]>[1]> = {}): string {
  const p = `/pkg-${++n}.tar`;
  srv.route(p, { body, ...extra });
  return `${srv.url}${p}`;
}

describe("read-only directory modes as a non-root user (UID 65532)", { skip: CANNOT_SWITCH_USER }, () => {
  const asUser = { asUser: NONROOT };
  const newDest = () => path.join(tmpdir("dp-install-ro-", NONROOT), "dest");

  it("installs an archive holding 0555 directories, and the next version replaces that tree", async () => {
    const dest = newDest();
    const r1 = await runDp({ PACKAGE_URL: route(readOnlyTar("v1")), PACKAGE_DEST: dest }, [], asUser);
    assert.equal(r1.code, 0, r1.stderr);
    const s1 = snapshot(dest);
    assert.equal(s1.ro, "dir 555");
    assert.equal(s1["ro/sub/deeper"], "dir 500");
    assert.equal(fs.readFileSync(path.join(dest, "ro/sub/deeper/c.txt"), "utf8"), "c v1\n");
    const r2 = await runDp({ PACKAGE_URL: route(readOnlyTar("v2")), PACKAGE_DEST: dest }, [], asUser);
    assert.equal(r2.code, 0, r2.stderr);
    const s2 = snapshot(dest);
    assert.deepEqual(Object.keys(s2).sort(), Object.keys(s1).map((k) => k.replace("v1", "v2")).sort());
    assert.equal(s2.ro, "dir 555");
    assert.equal(fs.readFileSync(path.join(dest, "ro/sub/deeper/c.txt"), "utf8"), "c v2\n");
    assert.deepEqual(stateOf(dest), ["installed.json"]);
  });

  it("--dir-mode 0555 installs and is replaced by the next version (a plain 0755 one)", async () => {
    const dest = newDest();
    const v1 = rawTar([{ name: "etc/", type: "5" }, { name: "etc/app/", type: "5" }, { name: "etc/app/conf", content: "1" }]);
    const r1 = await runDp({ PACKAGE_URL: route(v1), PACKAGE_DEST: dest }, ["--dir-mode", "0555"], asUser);
    assert.equal(r1.code, 0, r1.stderr);
    assert.deepEqual(snapshot(dest), { etc: "dir 555", "etc/app": "dir 555", "etc/app/conf": "file 644 MQ== 1" });
    const v2 = rawTar([{ name: "etc/", type: "5", mode: 0o755 }, { name: "etc/other", content: "2" }]);
    const r2 = await runDp({ PACKAGE_URL: route(v2), PACKAGE_DEST: dest }, [], asUser);
    assert.equal(r2.code, 0, r2.stderr);
    assert.deepEqual(snapshot(dest), { etc: "dir 755", "etc/other": "file 644 Mg== 1" });
    assert.deepEqual(stateOf(dest), ["installed.json"]);
  });

  it("leftovers of a crashed run with 0555 directories are removed, and the run installs", async () => {
    const dest = newDest();
    const first = await runDp({ PACKAGE_URL: route(readOnlyTar("v1")), PACKAGE_DEST: dest }, [], asUser);
    assert.equal(first.code, 0, first.stderr);
    const state = path.join(dest, ".download-package");
    for (const left of ["staging-crashed1", "trash-crashed2"]) {
      fs.mkdirSync(path.join(state, left, "ro/inner"), { recursive: true });
      fs.writeFileSync(path.join(state, left, "ro/inner/f"), "partial");
      chownTree(path.join(state, left), NONROOT);
      for (const d of ["ro/inner", "ro", ""]) fs.chmodSync(path.join(state, left, d), d === "" ? 0o500 : 0o555);
    }
    const r = await runDp({ PACKAGE_URL: route(readOnlyTar("v2")), PACKAGE_DEST: dest }, [], asUser);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /removed leftovers of an interrupted run/);
    assert.deepEqual(stateOf(dest), ["installed.json"]);
    assert.equal(fs.readFileSync(path.join(dest, "ro/a.txt"), "utf8"), "a v2\n");
  });

  it("a swap that cannot move the old content rolls back: exit 6, previous content and marker intact", async () => {
    const dest = newDest();
    const v1 = readOnlyTar("v1");
    const r1 = await runDp({ PACKAGE_URL: route(v1), PACKAGE_DEST: dest, PACKAGE_SHA256: sha(v1) }, [], asUser);
    assert.equal(r1.code, 0, r1.stderr);
    fs.mkdirSync(path.join(dest, "zz-root-owned")); // root's: 65532 may not move it to another parent
    const before = snapshot(dest);
    const marker = fs.readFileSync(path.join(dest, ".download-package/installed.json"), "utf8");
    const r2 = await runDp({ PACKAGE_URL: route(readOnlyTar("v2")), PACKAGE_DEST: dest }, [], { ...asUser, keepOwners: true });
    assert.equal(r2.code, 6, r2.stderr);
    assert.match(r2.stderr, /installing into .*: permission denied/);
    assert.deepEqual(snapshot(dest), before);
    assert.deepEqual(stateOf(dest), ["installed.json"]);
    assert.equal(fs.readFileSync(path.join(dest, ".download-package/installed.json"), "utf8"), marker);
    const again = await runDp({ PACKAGE_URL: route(v1), PACKAGE_DEST: dest, PACKAGE_SHA256: sha(v1) }, [], { ...asUser, keepOwners: true });
    assert.equal(again.code, 0, again.stderr);
    assert.match(again.stderr, /already installed/);
  });

  it("a failure after the modes were applied keeps its own exit code (4) and leaves no staging behind", async () => {
    const dest = newDest();
    const r = await runDp({ PACKAGE_URL: route(readOnlyTar("bad")), PACKAGE_DEST: dest, PACKAGE_SHA256: "0".repeat(64) }, [], asUser);
    assert.equal(r.code, 4, r.stderr);
    assert.match(r.stderr, /checksum mismatch/);
    assert.doesNotMatch(r.stderr, /internal error/);
    assert.deepEqual(stateOf(dest), []);
    const again = await runDp({ PACKAGE_URL: route(readOnlyTar("good")), PACKAGE_DEST: dest }, [], asUser);
    assert.equal(again.code, 0, again.stderr);
  });
});

/** A run as a child process we can watch and signal. */
function startRun(env: Record<string, string>, args: string[] = [], asUser = AS_USER): { child: ChildProcess; stderr: () => string; done: Promise<{ code: number | null; stderr: string; ms: number }> } {
  const started = Date.now();
  const [cmd, argv] = command(args, asUser);
  const child = spawn(cmd, argv, { env: cleanEnv(env), stdio: ["ignore", "ignore", "pipe"] });
  let stderr = "";
  child.stderr!.on("data", (d) => (stderr += d));
  const killer = setTimeout(() => child.kill("SIGKILL"), 60_000);
  const done = new Promise<{ code: number | null; stderr: string; ms: number }>((resolve) =>
    child.on("close", (code) => {
      clearTimeout(killer);
      resolve({ code, stderr, ms: Date.now() - started });
    }),
  );
  return { child, stderr: () => stderr, done };
}

async function waitFor(what: string, cond: () => boolean, ms = 10_000) {
  const until = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await sleep(20);
  }
}

const hasStaging = (dest: string) => fs.existsSync(path.join(dest, ".download-package")) && stateOf(dest).some((f) => f.startsWith("staging-"));
const lockFile = (dest: string) => path.join(dest, ".download-package/lock");
const readLock = (dest: string) => JSON.parse(fs.readFileSync(lockFile(dest), "utf8"));

/** A lock written by a run on another host (another Pod on the same volume). */
function foreignLock(dest: string, expiresAt: number) {
  fs.mkdirSync(path.join(dest, ".download-package"), { recursive: true });
  const lease = { owner: crypto.randomUUID(), pid: 7, hostname: "other-pod-7f9c", acquiredAt: new Date().toISOString(), expiresAt };
  fs.writeFileSync(lockFile(dest), JSON.stringify(lease));
  chownTree(dest, AS_USER);
}

/** A package big enough to take `seconds` at the given throttle. */
function slowPackage(tag: string, bytesPerSecond: number, seconds: number): { body: Buffer; tree: string } {
  const tree = makeTree({ [`${tag}/data.bin`]: { content: crypto.randomBytes(Math.floor(bytesPerSecond * seconds)) }, [`${tag}/conf.txt`]: { content: tag } });
  return { body: tarOf(tree), tree };
}

describe("one destination, two runs: an exclusive lock", () => {
  it("two concurrent runs of different versions: both complete, each exit 0 has its whole tree in place", async () => {
    const dest = path.join(tmpdir("dp-install-race-"), "dest");
    const v1 = slowPackage("v1", 400_000, 3);
    const v2 = slowPackage("v2", 400_000, 1);
    const a = startRun({ PACKAGE_URL: route(v1.body, { throttle: 400_000 }), PACKAGE_DEST: dest });
    await waitFor("the first run's staging", () => hasStaging(dest));
    const b = startRun({ PACKAGE_URL: route(v2.body, { throttle: 400_000 }), PACKAGE_DEST: dest });
    const ra = await a.done;
    const atFirstExit = snapshot(dest);
    assert.equal(ra.code, 0, ra.stderr);
    assert.deepEqual(atFirstExit, snapshot(v1.tree), "the first run exited 0 without its tree in place");
    const rb = await b.done;
    assert.equal(rb.code, 0, rb.stderr);
    assert.match(rb.stderr, /waiting for another run that holds the lock on this destination holder="pid \d+ on host /);
    assert.deepEqual(snapshot(dest), snapshot(v2.tree), "the second run exited 0 without its tree in place");
    assert.deepEqual(stateOf(dest), ["installed.json"]);
  });

  it("two concurrent runs of the same package: one installs, the other finds it installed", async () => {
    const dest = path.join(tmpdir("dp-install-same-"), "dest");
    const pkg = slowPackage("same", 400_000, 1);
    const url = route(pkg.body, { throttle: 400_000 });
    const env = { PACKAGE_URL: url, PACKAGE_DEST: dest, PACKAGE_SHA256: sha(pkg.body) };
    const a = startRun(env);
    await waitFor("the first run's staging", () => hasStaging(dest));
    const b = startRun(env);
    const [ra, rb] = await Promise.all([a.done, b.done]);
    assert.equal(ra.code, 0, ra.stderr);
    assert.equal(rb.code, 0, rb.stderr);
    assert.match(ra.stderr, /INFO {2}installed /);
    assert.match(rb.stderr, /already installed, nothing to do/);
    assert.deepEqual(snapshot(dest), snapshot(pkg.tree));
    const path_ = new URL(url).pathname;
    assert.equal(srv.log.filter((l) => l.path === path_).length, 1, "the package was downloaded twice");
  });

  it("a holder killed with SIGKILL leaves a stale lease that the next run takes over at once", async () => {
    const dest = path.join(tmpdir("dp-install-stale-"), "dest");
    const a = startRun({ PACKAGE_URL: route(slowPackage("big", 200_000, 10).body, { throttle: 200_000 }), PACKAGE_DEST: dest });
    await waitFor("the first run's staging", () => hasStaging(dest));
    const holder = readLock(dest);
    assert.equal(holder.pid, a.child.pid);
    a.child.kill("SIGKILL");
    await a.done;
    const pkg = slowPackage("next", 100_000, 0.1);
    const r = await runDp({ PACKAGE_URL: route(pkg.body), PACKAGE_DEST: dest });
    assert.equal(r.code, 0, r.stderr);
    assert.ok(r.ms < 5000, `took ${r.ms} ms`);
    assert.match(r.stderr, new RegExp(`took over the lock of a run that is gone: its process ${holder.pid} no longer runs`));
    assert.deepEqual(snapshot(dest), snapshot(pkg.tree));
    assert.deepEqual(stateOf(dest), ["installed.json"]);
  });

  it("an expired lease of another host is taken over", async () => {
    const dest = path.join(tmpdir("dp-install-expired-"), "dest");
    foreignLock(dest, Date.now() - 1000);
    const pkg = slowPackage("after", 100_000, 0.1);
    const r = await runDp({ PACKAGE_URL: route(pkg.body), PACKAGE_DEST: dest });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /took over the lock of a run that is gone: its lease expired at .* holder="pid 7 on host other-pod-7f9c/);
    assert.deepEqual(snapshot(dest), snapshot(pkg.tree));
    assert.ok(!fs.existsSync(lockFile(dest)), "the lock was not released");
  });

  it("a damaged lock file is judged by its age: an old one is taken over", async () => {
    const dest = path.join(tmpdir("dp-install-damaged-"), "dest");
    foreignLock(dest, 0);
    fs.writeFileSync(lockFile(dest), "{ not a lease");
    const old = new Date(Date.now() - 60_000);
    fs.utimesSync(lockFile(dest), old, old);
    const pkg = slowPackage("fixed", 100_000, 0.1);
    const r = await runDp({ PACKAGE_URL: route(pkg.body), PACKAGE_DEST: dest });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /took over the lock of a run that is gone: its lease expired/);
    assert.deepEqual(snapshot(dest), snapshot(pkg.tree));
  });

  it("a live holder: the second run waits, then exits 6 naming it; the holder renews its lease and finishes", async () => {
    const dest = path.join(tmpdir("dp-install-live-"), "dest");
    const pkg = slowPackage("live", 200_000, 9);
    const a = startRun({ PACKAGE_URL: route(pkg.body, { throttle: 200_000 }), PACKAGE_DEST: dest });
    await waitFor("the first run's lock", () => fs.existsSync(lockFile(dest)));
    const first = readLock(dest);
    const r = await runDp({ PACKAGE_URL: route(rawTar([{ name: "x", content: "x" }])), PACKAGE_DEST: dest }, ["--lock-timeout", "1s"]);
    assert.equal(r.code, 6, r.stderr);
    assert.ok(r.ms >= 1000 && r.ms < 6000, `took ${r.ms} ms`);
    assert.match(r.stderr, new RegExp(`is locked by another download-package run: pid ${a.child.pid} on host ${os.hostname()} .*gave up after 1s \\(PACKAGE_LOCK_TIMEOUT\\)`));
    const renewed = () => {
      try {
        const now = readLock(dest);
        return now.owner === first.owner && now.expiresAt > first.expiresAt;
      } catch {
        return false;
      }
    };
    await waitFor("the holder to renew its lease", renewed, 8000);
    const ra = await a.done;
    assert.equal(ra.code, 0, ra.stderr);
    assert.deepEqual(snapshot(dest), snapshot(pkg.tree));
  });

  it("a run whose lock was taken over does not swap: exit 6, the destination untouched", async () => {
    const dest = path.join(tmpdir("dp-install-lost-"), "dest");
    const v1 = slowPackage("kept", 100_000, 0.1);
    assert.equal((await runDp({ PACKAGE_URL: route(v1.body), PACKAGE_DEST: dest })).code, 0);
    const a = startRun({ PACKAGE_URL: route(slowPackage("late", 400_000, 2).body, { throttle: 400_000 }), PACKAGE_DEST: dest });
    await waitFor("the run's staging", () => hasStaging(dest));
    foreignLock(dest, Date.now() + 25_000); // another Pod took the lease over
    const r = await a.done;
    assert.equal(r.code, 6, r.stderr);
    assert.match(r.stderr, /lost the lock on .*another run took it over: pid 7 on host other-pod-7f9c/);
    assert.deepEqual(snapshot(dest), snapshot(v1.tree));
    assert.equal(readLock(dest).hostname, "other-pod-7f9c", "the other run's lock was removed");
  });

  it("the wait is bounded by PACKAGE_TIMEOUT", async () => {
    const dest = path.join(tmpdir("dp-install-deadline-"), "dest");
    foreignLock(dest, Date.now() + 25_000);
    const r = await runDp({ PACKAGE_URL: route(rawTar([{ name: "x", content: "x" }])), PACKAGE_DEST: dest, PACKAGE_TIMEOUT: "1s" });
    assert.equal(r.code, 6, r.stderr);
    assert.ok(r.ms < 4000, `took ${r.ms} ms`);
    assert.match(r.stderr, /locked by another download-package run: pid 7 on host other-pod-7f9c .*\(PACKAGE_TIMEOUT\)/);
  });

  it("PACKAGE_LOCK_TIMEOUT must be a duration", async () => {
    const r = await runDp({ PACKAGE_URL: route(rawTar([{ name: "x", content: "x" }])), PACKAGE_DEST: tmpdir(), PACKAGE_LOCK_TIMEOUT: "soon" });
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, /PACKAGE_LOCK_TIMEOUT: "soon" is not a duration/);
  });
});

// Never as root: a test must not write into /proc or /sys on the CI machine.
describe("destinations that cannot hold files, signals, deadlines (as UID 65532)", { skip: CANNOT_SWITCH_USER }, () => {
  const asUser = { asUser: NONROOT, timeoutMs: 10_000 };
  for (const dest of [`/proc/dp-install-test-${process.pid}/out`, "/proc/sys/dp-install-test", `/sys/kernel/dp-install-test-${process.pid}`]) {
    it(`${dest.split("/")[1]}: ${dest} is a clear exit 6 at once`, async () => {
      const r = await runDp({ PACKAGE_URL: route(rawTar([{ name: "x", content: "x" }])), PACKAGE_DEST: dest }, [], asUser);
      assert.equal(r.code, 6, r.stderr);
      // Detected from mountinfo before any write (the old code spun until killed): the message
      // says so; no wall-clock bound, which a loaded CI machine would make flaky.
      assert.match(r.stderr, /is on a (proc|sysfs) pseudo filesystem, which cannot hold files/);
    });
  }

  it("SIGTERM ends a waiting run within 2 s, exit 143", async () => {
    const dest = path.join(tmpdir("dp-install-sigterm-", NONROOT), "dest");
    fs.mkdirSync(path.join(dest, ".download-package"), { recursive: true });
    fs.writeFileSync(lockFile(dest), JSON.stringify({ owner: crypto.randomUUID(), pid: 7, hostname: "other-pod-7f9c", acquiredAt: new Date().toISOString(), expiresAt: Date.now() + 25_000 }));
    chownTree(dest, NONROOT);
    const run = startRun({ PACKAGE_URL: route(rawTar([{ name: "x", content: "x" }])), PACKAGE_DEST: dest }, [], NONROOT);
    await waitFor("the run to wait for the lock", () => /waiting for another run/.test(run.stderr()));
    const sent = Date.now();
    run.child.kill("SIGTERM");
    const r = await run.done;
    assert.equal(r.code, 143, r.stderr);
    assert.ok(Date.now() - sent < 2000, `took ${Date.now() - sent} ms after SIGTERM`);
  });
});

describe("lease and mount rules (pure)", async () => {
  const { staleReason } = await import("../src/install/lock.ts");
  const { mountOf, parseMountInfo, isPseudoFsType } = await import("../src/install/pseudo-fs.ts");
  const now = Date.parse("2026-01-01T00:00:00Z");
  const lease = { owner: "o", pid: 42, hostname: "pod-a", pidNamespace: "pid:[1]", processStart: "100", acquiredAt: "t", expiresAt: now + 10_000 };
  const here = (probe: (pid: number) => { start?: string } | undefined, hostname = "pod-a", pidNamespace = "pid:[1]") => ({ hostname, pidNamespace, probe });
  const alive = here(() => ({ start: "100" }));

  it("a lease is live until it expires, and stale after", () => {
    assert.equal(staleReason(lease, alive, now), undefined);
    assert.match(staleReason(lease, alive, now + 10_001) ?? "", /lease expired at 2026-01-01T00:00:10.000Z/);
    assert.match(staleReason({ ...lease, expiresAt: Number.NaN }, alive, now) ?? "", /no valid expiry/);
    assert.match(staleReason({ ...lease, expiresAt: Infinity }, alive, now) ?? "", /no valid expiry/);
    assert.match(staleReason({ ...lease, expiresAt: now + 3_600_000 }, alive, now) ?? "", /claims an expiry .* no renewal gives/);
  });

  it("a dead or replaced holder is stale only on the same host and PID namespace", () => {
    assert.match(staleReason(lease, here(() => undefined), now) ?? "", /process 42 no longer runs/);
    assert.match(staleReason(lease, here(() => ({ start: "999" })), now) ?? "", /PID was reused/);
    assert.equal(staleReason(lease, here(() => undefined, "pod-b"), now), undefined, "another host's PIDs say nothing");
    assert.equal(staleReason(lease, here(() => undefined, "pod-a", "pid:[2]"), now), undefined, "another namespace's PIDs say nothing");
    assert.equal(staleReason({ ...lease, pidNamespace: undefined }, here(() => undefined), now), undefined);
  });

  it("mountinfo: the longest mount point holding the path decides, escapes decoded", () => {
    const mounts = parseMountInfo([
      "22 1 0:21 / / rw,relatime shared:1 - ext4 /dev/sda1 rw",
      "23 22 0:22 / /proc rw,nosuid - proc proc rw",
      "24 22 0:23 / /sys rw,nosuid shared:7 - sysfs sysfs rw",
      "25 24 0:24 / /sys/fs/cgroup rw - cgroup2 cgroup2 rw",
      "26 22 0:25 / /mnt/my\\040disk rw - tmpfs tmpfs rw",
      "27 23 0:26 / /proc/sys/fs/binfmt_misc rw - binfmt_misc binfmt_misc rw",
    ].join("\n"));
    assert.equal(mountOf("/proc/sys/vm", mounts)?.fsType, "proc");
    assert.equal(mountOf("/procfoo/x", mounts)?.fsType, "ext4");
    assert.equal(mountOf("/sys/fs/cgroup/x", mounts)?.fsType, "cgroup2");
    assert.equal(mountOf("/mnt/my disk/dest", mounts)?.fsType, "tmpfs");
    assert.equal(mountOf("/", mounts)?.fsType, "ext4");
    assert.ok(isPseudoFsType("proc") && isPseudoFsType("sysfs") && isPseudoFsType("cgroup2"));
    assert.ok(!isPseudoFsType("tmpfs") && !isPseudoFsType("ext4") && !isPseudoFsType("nfs4") && !isPseudoFsType("overlay"));
  });
});

describe("a checksum file and an odd package URL", () => {
  // Exit 0 here; exit 2 if configuration validation refuses such URLs. Never 1 with a stack trace.
  it("a malformed %-escape in the package's file name never crashes the checksum lookup", async () => {
    const body = rawTar([{ name: "pct.txt", content: "%" }]);
    srv.route("/odd%zz.tar", { body });
    srv.route("/ODDSUMS", { body: Buffer.from(`${sha(body)}  odd%zz.tar\n`) });
    const r = await runDp({ PACKAGE_URL: `${srv.url}/odd%zz.tar`, PACKAGE_DEST: tmpdir(), PACKAGE_CHECKSUM_URL: `${srv.url}/ODDSUMS` });
    assert.ok(r.code === 0 || r.code === 2, r.stderr);
    assert.doesNotMatch(r.stderr, /internal error/);
    if (r.code === 0) assert.match(r.stderr, /verified=true/);
  });
});
