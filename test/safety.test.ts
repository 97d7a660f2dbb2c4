// Hostile archives, integrity, and all-or-nothing installation.

import assert from "node:assert/strict";
import { execFileSync, spawn } from "node:child_process";
import crypto from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { gzip, makeTree, rawTar, tarOf, type RawEntry } from "./helpers/fixtures.ts";
import { cleanEnv, command, runDp, snapshot, tmpdir } from "./helpers/run.ts";
import { startServer, type TestServer } from "./helpers/server.ts";

let srv: TestServer;
before(async () => (srv = await startServer()));
after(() => srv.close());

const good = gzip(rawTar([
  { name: "app/", type: "5", mode: 0o755 },
  { name: "app/index.html", content: "<h1>v1</h1>\n" },
  { name: "app/run.sh", content: "#!/bin/sh\n", mode: 0o755 },
]));
const sha = (b: Buffer, alg = "sha256") => crypto.createHash(alg).update(b).digest("hex");

/** A parent directory holding only the destination, which already holds a good install. */
async function installedDest(): Promise<{ parent: string; dest: string; before: Record<string, string> }> {
  srv.route("/good.tar.gz", { body: good });
  const parent = tmpdir("dp-parent-");
  const dest = path.join(parent, "dest");
  const r = await runDp({ PACKAGE_URL: `${srv.url}/good.tar.gz`, PACKAGE_DEST: dest });
  assert.equal(r.code, 0, r.stderr);
  return { parent, dest, before: snapshot(dest) };
}

function assertUntouched(parent: string, dest: string, expected: Record<string, string>) {
  assert.deepEqual(fs.readdirSync(parent), ["dest"], "something was written beside the destination");
  assert.deepEqual(snapshot(dest), expected, "the destination changed");
  const state = fs.readdirSync(path.join(dest, ".download-package"));
  assert.deepEqual(state, ["installed.json"], `leftovers: ${state}`);
}

let n = 0;
async function expectRefused(entries: RawEntry[], pattern: RegExp, env: Record<string, string> = {}, code = 5): Promise<void> {
  const { parent, dest, before } = await installedDest();
  const p = `/hostile${++n}.tar`;
  srv.route(p, { body: rawTar(entries) });
  const r = await runDp({ PACKAGE_URL: `${srv.url}${p}`, PACKAGE_DEST: dest, ...env });
  assert.equal(r.code, code, r.stderr);
  assert.match(r.stderr, pattern);
  assertUntouched(parent, dest, before);
}

describe("hostile archives are refused, naming the entry, leaving the destination as it was", () => {
  it("absolute path", () => expectRefused([{ name: "/tmp/dp-evil-abs", content: "x" }], /unsafe archive entry "\/tmp\/dp-evil-abs": has an absolute path/).then(() => assert.ok(!fs.existsSync("/tmp/dp-evil-abs"))));
  it("'..' escape", () => expectRefused([{ name: "ok.txt", content: "x" }, { name: "a/../../evil", content: "x" }], /"a\/..\/..\/evil": has a '..' component/));
  it("symlink whose target leaves the destination", () => expectRefused([{ name: "link", type: "2", linkname: "../../etc" }], /"link": is a symlink whose target "..\/..\/etc" leaves/));
  it("absolute symlink target", () => expectRefused([{ name: "pw", type: "2", linkname: "/etc/passwd" }], /"pw": is a symlink whose target "\/etc\/passwd" leaves/));
  it("hardlink to a file outside", () => expectRefused([{ name: "hl", type: "1", linkname: "/etc/passwd" }], /"hl": is a hardlink whose target "\/etc\/passwd" leaves/));
  it("hardlink escaping with '..'", () => expectRefused([{ name: "hl", type: "1", linkname: "../outside" }], /"hl": is a hardlink/));
  it("writing through a symlink made earlier in the same archive", () =>
    expectRefused([{ name: "sub", type: "5" }, { name: "alias", type: "2", linkname: "sub" }, { name: "alias/file", content: "x" }], /"alias\/file": would be written through the symlink "alias"/));
  it("the classic two-step escape (symlink to '.', then through it)", () =>
    expectRefused([{ name: "d", type: "2", linkname: "." }, { name: "d/../../escape", content: "x" }], /'\.\.' component|written through the symlink/));
  it("character device", () => expectRefused([{ name: "null", type: "3" }], /"null": is a CharacterDevice entry/));
  it("block device", () => expectRefused([{ name: "sda", type: "4" }], /"sda": is a BlockDevice entry/));
  it("FIFO", () => expectRefused([{ name: "pipe", type: "6" }], /"pipe": is a FIFO entry/));
  it("a corrupt header checksum", async () => {
    const bad = rawTar([{ name: "a.txt", content: "hello" }, { name: "b.txt", content: "world" }]);
    bad[512 * 2 + 148] ^= 0x01; // second header's checksum
    const { parent, dest, before } = await installedDest();
    srv.route("/corrupt.tar", { body: bad });
    const r = await runDp({ PACKAGE_URL: `${srv.url}/corrupt.tar`, PACKAGE_DEST: dest });
    assert.equal(r.code, 5);
    assert.match(r.stderr, /corrupt tar archive/);
    assertUntouched(parent, dest, before);
  });
  it("a truncated gzip stream", async () => {
    const { parent, dest, before } = await installedDest();
    const whole = gzip(tarOf(makeTree({ "f.bin": { content: crypto.randomBytes(200_000) } })));
    srv.route("/trunc.tar.gz", { body: whole.subarray(0, whole.length - 5000) });
    const r = await runDp({ PACKAGE_URL: `${srv.url}/trunc.tar.gz`, PACKAGE_DEST: dest });
    assert.equal(r.code, 5);
    assert.match(r.stderr, /corrupt gzip data|corrupt tar archive/);
    assertUntouched(parent, dest, before);
  });
});

describe("limits", () => {
  it("too many entries (PACKAGE_MAX_ENTRIES)", () => expectRefused([1, 2, 3, 4].map((i) => ({ name: `f${i}`, content: "x" })), /more than 3 entries/, { PACKAGE_MAX_ENTRIES: "3" }));
  it("total size (PACKAGE_MAX_BYTES)", () => expectRefused([{ name: "a", content: Buffer.alloc(3000) }, { name: "b", content: Buffer.alloc(3000) }], /expands to more than 5000 bytes/, { PACKAGE_MAX_BYTES: "5000" }));
  it("one entry's size (PACKAGE_MAX_ENTRY_BYTES)", () => expectRefused([{ name: "big", content: Buffer.alloc(2048) }], /"big" is 2048 bytes, over the 1024-byte limit/, { PACKAGE_MAX_ENTRY_BYTES: "1KiB" }));
  it("path length (PACKAGE_MAX_PATH_LENGTH)", () => expectRefused([{ name: "a".repeat(60), content: "x" }], /path longer than 50 bytes/, { PACKAGE_MAX_PATH_LENGTH: "50" }));
  it("compression ratio: a gzip bomb", async () => {
    const { parent, dest, before } = await installedDest();
    const bomb = gzip(rawTar([{ name: "zeros", content: Buffer.alloc(200 * 1024 * 1024) }]));
    srv.route("/bomb.tar.gz", { body: bomb });
    const r = await runDp({ PACKAGE_URL: `${srv.url}/bomb.tar.gz`, PACKAGE_DEST: dest, PACKAGE_MAX_RATIO: "100" });
    assert.equal(r.code, 5);
    assert.match(r.stderr, /expands more than 100:1/);
    assertUntouched(parent, dest, before);
  });
});

describe("modes and ownership", () => {
  it("setuid, setgid and sticky bits are stripped; other bits kept", async () => {
    srv.route("/suid.tar", { body: rawTar([{ name: "suid", content: "x", mode: 0o4755 }, { name: "sgid", content: "x", mode: 0o2750 }, { name: "sticky", type: "5", mode: 0o1777 }]) });
    const dest = tmpdir();
    const r = await runDp({ PACKAGE_URL: `${srv.url}/suid.tar`, PACKAGE_DEST: dest });
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(snapshot(dest), { sgid: `file 750 eA== 1`, sticky: "dir 777", suid: "file 755 eA== 1" });
  });

  it("PACKAGE_FILE_MODE / PACKAGE_DIR_MODE make everything readable by another user", async () => {
    srv.route("/private.tar", { body: rawTar([{ name: "d/", type: "5", mode: 0o700 }, { name: "d/secret", content: "x", mode: 0o600 }]) });
    const dest = tmpdir();
    const r = await runDp({ PACKAGE_URL: `${srv.url}/private.tar`, PACKAGE_DEST: dest, PACKAGE_FILE_MODE: "0644", PACKAGE_DIR_MODE: "0755" });
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(snapshot(dest), { d: "dir 755", "d/secret": "file 644 eA== 1" });
  });

  it("PACKAGE_STRIP_COMPONENTS drops leading directories", async () => {
    srv.route("/nested.tar", { body: rawTar([{ name: "pkg-1.0/", type: "5" }, { name: "pkg-1.0/bin/tool", content: "x", mode: 0o755 }]) });
    const dest = tmpdir();
    const r = await runDp({ PACKAGE_URL: `${srv.url}/nested.tar`, PACKAGE_DEST: dest, PACKAGE_STRIP_COMPONENTS: "1" });
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(snapshot(dest), { bin: "dir 755", "bin/tool": "file 755 eA== 1" });
  });

  it("ownership from the archive is not applied; PACKAGE_UID/PACKAGE_GID set it when asked", { skip: process.getuid?.() !== 0 ? "needs root to chown" : false }, async () => {
    const t = makeTree({ "f.txt": { content: "x" } });
    execFileSync("chown", ["4242:4343", path.join(t, "f.txt")]);
    srv.route("/owned.tar", { body: tarOf(t) });
    const d1 = tmpdir();
    assert.equal((await runDp({ PACKAGE_URL: `${srv.url}/owned.tar`, PACKAGE_DEST: d1 })).code, 0);
    assert.equal(fs.statSync(path.join(d1, "f.txt")).uid, 0);
    const d2 = tmpdir();
    const r = await runDp({ PACKAGE_URL: `${srv.url}/owned.tar`, PACKAGE_DEST: d2, PACKAGE_UID: "65532", PACKAGE_GID: "65533" });
    assert.equal(r.code, 0, r.stderr);
    const st = fs.statSync(path.join(d2, "f.txt"));
    assert.deepEqual([st.uid, st.gid], [65532, 65533]);
  });
});

describe("integrity", () => {
  it("a matching PACKAGE_SHA256 installs and says verified", async () => {
    srv.route("/good.tar.gz", { body: good });
    const r = await runDp({ PACKAGE_URL: `${srv.url}/good.tar.gz`, PACKAGE_DEST: tmpdir(), PACKAGE_SHA256: sha(good) });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /verified=true/);
  });

  it("sha512: prefixed digests work", async () => {
    const r = await runDp({ PACKAGE_URL: `${srv.url}/good.tar.gz`, PACKAGE_DEST: tmpdir(), PACKAGE_SHA256: `sha512:${sha(good, "sha512")}` });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /digest=sha512:/);
  });

  it("a checksum mismatch exits 4 and leaves the previous install", async () => {
    const { parent, dest, before } = await installedDest();
    const other = gzip(rawTar([{ name: "v2.txt", content: "two" }]));
    srv.route("/v2.tar.gz", { body: other });
    const r = await runDp({ PACKAGE_URL: `${srv.url}/v2.tar.gz`, PACKAGE_DEST: dest, PACKAGE_SHA256: `sha256:${"0".repeat(64)}` });
    assert.equal(r.code, 4);
    assert.match(r.stderr, /checksum mismatch: expected sha256:0{64}, got sha256:[0-9a-f]{64}/);
    assertUntouched(parent, dest, before);
  });

  it("a corrupted byte in transit is caught by the checksum", async () => {
    const tarBody = rawTar([{ name: "data.txt", content: "a".repeat(5000) }]);
    srv.route("/flip.tar", { body: tarBody, corruptAt: 600 });
    const r = await runDp({ PACKAGE_URL: `${srv.url}/flip.tar`, PACKAGE_DEST: tmpdir(), PACKAGE_SHA256: sha(tarBody) });
    assert.equal(r.code, 4);
  });

  it("PACKAGE_CHECKSUM_URL reads a sha256sum file and picks the package's line", async () => {
    srv.route("/SHA256SUMS", { body: Buffer.from(`${"1".repeat(64)}  other.tar.gz\n${sha(good)}  good.tar.gz\n`) });
    const r = await runDp({ PACKAGE_URL: `${srv.url}/good.tar.gz`, PACKAGE_DEST: tmpdir(), PACKAGE_CHECKSUM_URL: `${srv.url}/SHA256SUMS` });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /verified=true/);
    srv.route("/BADSUMS", { body: Buffer.from(`${"1".repeat(64)}  good.tar.gz\n`) });
    const bad = await runDp({ PACKAGE_URL: `${srv.url}/good.tar.gz`, PACKAGE_DEST: tmpdir(), PACKAGE_CHECKSUM_URL: `${srv.url}/BADSUMS` });
    assert.equal(bad.code, 4);
  });

  it("an invalid digest is a usage error, exit 2", async () => {
    const r = await runDp({ PACKAGE_URL: `${srv.url}/good.tar.gz`, PACKAGE_DEST: tmpdir(), PACKAGE_SHA256: "abc" });
    assert.equal(r.code, 2);
    assert.match(r.stderr, /PACKAGE_SHA256 is not a SHA-256 or SHA-512 digest/);
  });
});

describe("all or nothing, and re-runs", () => {
  it("a re-run with the same checksum does nothing and says so (no download)", async () => {
    srv.route("/same.tar.gz", { body: good });
    const dest = tmpdir();
    const env = { PACKAGE_URL: `${srv.url}/same.tar.gz`, PACKAGE_DEST: dest, PACKAGE_SHA256: sha(good) };
    assert.equal((await runDp(env)).code, 0);
    const before = srv.log.filter((l) => l.path === "/same.tar.gz").length;
    const r = await runDp(env);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /already installed, nothing to do/);
    assert.equal(srv.log.filter((l) => l.path === "/same.tar.gz").length, before);
    const marker = JSON.parse(fs.readFileSync(path.join(dest, ".download-package/installed.json"), "utf8"));
    assert.equal(marker.digest.hex, sha(good));
    assert.ok(marker.installedAt && marker.urls[0].endsWith("/same.tar.gz"));
  });

  it("without a checksum, a re-run asks the server (If-None-Match) and does nothing on 304", async () => {
    srv.route("/cond.tar.gz", { body: good });
    const dest = tmpdir();
    const env = { PACKAGE_URL: `${srv.url}/cond.tar.gz`, PACKAGE_DEST: dest };
    assert.equal((await runDp(env)).code, 0);
    const before = snapshot(dest);
    const r = await runDp(env);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /already installed, nothing to do: the server says the package is not modified/);
    const reqs = srv.log.filter((l) => l.path === "/cond.tar.gz");
    assert.equal(reqs[1].status, 304);
    assert.equal(reqs[1].headers["if-none-match"], `"v1-${good.length}"`);
    assert.deepEqual(snapshot(dest), before);
    // A changed package (new ETag) is downloaded again.
    srv.route("/cond.tar.gz", { body: gzip(rawTar([{ name: "new.txt", content: "new" }])) });
    const r3 = await runDp(env);
    assert.equal(r3.code, 0, r3.stderr);
    assert.deepEqual(Object.keys(snapshot(dest)), ["new.txt"]);
  });

  it("a different package replaces the old content completely", async () => {
    const { dest } = await installedDest();
    srv.route("/v3.tar", { body: rawTar([{ name: "only-v3.txt", content: "3" }]) });
    const r = await runDp({ PACKAGE_URL: `${srv.url}/v3.tar`, PACKAGE_DEST: dest });
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(snapshot(dest), { "only-v3.txt": "file 644 Mw== 1" });
  });

  it("leftovers of a crashed run are cleaned first", async () => {
    const { dest } = await installedDest();
    fs.mkdirSync(path.join(dest, ".download-package/staging-crashed/half"), { recursive: true });
    fs.writeFileSync(path.join(dest, ".download-package/staging-crashed/half/file"), "partial");
    const r = await runDp({ PACKAGE_URL: `${srv.url}/good.tar.gz`, PACKAGE_DEST: dest });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /removed leftovers of an interrupted run/);
    assert.deepEqual(fs.readdirSync(path.join(dest, ".download-package")), ["installed.json"]);
  });

  for (const sig of ["SIGTERM", "SIGINT"] as const) {
    it(`${sig} mid-transfer stops, removes the staging area, exits 128+signal`, async () => {
      const { parent, dest, before } = await installedDest();
      const body = gzip(tarOf(makeTree({ "big.bin": { content: crypto.randomBytes(2_000_000) } })));
      srv.route(`/slow-${sig}.tar.gz`, { body, throttle: 400_000 });
      const [cmd, args] = command([]);
      const child = spawn(cmd, args, { env: cleanEnv({ PACKAGE_URL: `${srv.url}/slow-${sig}.tar.gz`, PACKAGE_DEST: dest }), stdio: ["ignore", "ignore", "pipe"] });
      let stderr = "";
      child.stderr.on("data", (d) => (stderr += d));
      // Wait until bytes are flowing and the staging area exists.
      for (let i = 0; i < 100 && !fs.readdirSync(path.join(dest, ".download-package")).some((f) => f.startsWith("staging-")); i++) await new Promise((r) => setTimeout(r, 50));
      await new Promise((r) => setTimeout(r, 500));
      child.kill(sig);
      const code = await new Promise<number | null>((r) => child.on("close", (c) => r(c)));
      assert.equal(code, sig === "SIGTERM" ? 143 : 130, stderr);
      assert.match(stderr, new RegExp(`received ${sig}`));
      assertUntouched(parent, dest, before);
    });
  }

  it("disk full: a clear error, exit 6, staging removed, previous content intact", async (t) => {
    const mnt = tmpdir("dp-tmpfs-");
    try {
      execFileSync("mount", ["-t", "tmpfs", "-o", "size=1m", "tmpfs", mnt], { stdio: "ignore" });
    } catch {
      return t.skip("cannot mount a tmpfs here (needs root and mount permission)");
    }
    try {
      const dest = path.join(mnt, "dest");
      srv.route("/small.tar", { body: rawTar([{ name: "small.txt", content: "small" }]) });
      assert.equal((await runDp({ PACKAGE_URL: `${srv.url}/small.tar`, PACKAGE_DEST: dest })).code, 0);
      const before = snapshot(dest);
      // One large file (thread-pool writes) and many small ones (synchronous writes).
      srv.route("/huge.tar.gz", { body: gzip(tarOf(makeTree({ "huge.bin": { content: crypto.randomBytes(2 * 1024 * 1024) } }))) });
      srv.route("/many.tar.gz", { body: gzip(rawTar(Array.from({ length: 300 }, (_, i) => ({ name: `f${i}.bin`, content: crypto.randomBytes(8192) })))) });
      for (const p of ["/huge.tar.gz", "/many.tar.gz"]) {
        const r = await runDp({ PACKAGE_URL: `${srv.url}${p}`, PACKAGE_DEST: dest });
        assert.equal(r.code, 6, r.stderr);
        assert.match(r.stderr, /no space left on device/);
        assert.deepEqual(snapshot(dest), before);
        assert.deepEqual(fs.readdirSync(path.join(dest, ".download-package")), ["installed.json"]);
      }
    } finally {
      execFileSync("umount", [mnt]);
    }
  });

  it("writes the failure reason to the termination log when the file exists", async () => {
    const f = path.join(tmpdir(), "termination-log");
    fs.writeFileSync(f, "");
    const r = await runDp({ PACKAGE_URL: `${srv.url}/missing.tar.gz`, PACKAGE_DEST: tmpdir(), PACKAGE_TERMINATION_LOG: f });
    assert.equal(r.code, 3);
    const text = fs.readFileSync(f, "utf8");
    assert.match(text, /^HTTP 404 from .*missing\.tar\.gz \(hint: .*\)\n$/);
  });
});
