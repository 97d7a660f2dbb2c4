// The main job end to end: a real server, real archives, the program as a process.

import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import crypto from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { gzip, makeTree, rawTar, tarOf, zstd } from "./helpers/fixtures.ts";
import { cleanEnv, exec, runDp, snapshot, TARGET, tmpdir } from "./helpers/run.ts";
import { startServer, type TestServer } from "./helpers/server.ts";

let srv: TestServer;
before(async () => (srv = await startServer()));
after(() => srv.close());

const tree = makeTree({
  "bin/run.sh": { content: "#!/bin/sh\necho hi\n", mode: 0o755 },
  "etc/app/config.yaml": { content: "a: 1\n", mode: 0o644 },
  "etc/app/secret.txt": { content: "s3cr3t\n", mode: 0o600 },
  "deep/a/b/c/d/e/leaf.txt": { content: "leaf\n", mode: 0o640 },
  "empty-dir": { dir: true, mode: 0o750 },
  "link-to-config": { symlink: "etc/app/config.yaml" },
});

describe("download-package installs a package", () => {
  for (const [name, encode] of [
    ["tar", (b: Buffer) => b],
    ["tar.gz", gzip],
    ["tar.zst", zstd],
  ] as const) {
    it(`recreates a ${name} archive's tree exactly (content, modes, links)`, async () => {
      srv.route(`/pkg.${name}`, { body: encode(tarOf(tree)) });
      const dest = tmpdir();
      const r = await runDp({ PACKAGE_URL: `${srv.url}/pkg.${name}`, PACKAGE_DEST: dest });
      assert.equal(r.code, 0, r.stderr);
      assert.deepEqual(snapshot(dest), snapshot(tree));
      assert.match(r.stderr, /installed .*files=4/);
    });
  }

  it("decides the format by magic bytes, not by the name or Content-Type", async () => {
    srv.route("/misnamed.zip", { body: gzip(tarOf(tree)), contentType: "text/html" });
    const dest = tmpdir();
    const r = await runDp({ PACKAGE_URL: `${srv.url}/misnamed.zip`, PACKAGE_DEST: dest });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /format=gzip/);
    assert.deepEqual(snapshot(dest), snapshot(tree));
  });

  it("installs an empty archive as an empty directory", async () => {
    srv.route("/empty.tar.gz", { body: gzip(Buffer.alloc(10240)) });
    const dest = tmpdir();
    const r = await runDp({ PACKAGE_URL: `${srv.url}/empty.tar.gz`, PACKAGE_DEST: dest });
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(snapshot(dest), {});
    assert.ok(fs.existsSync(path.join(dest, ".download-package/installed.json")));
  });

  it("streams a large file (64 MiB) intact", async () => {
    const big = crypto.randomBytes(64 * 1024 * 1024);
    const t = makeTree({ "big.bin": { content: big, mode: 0o644 } });
    srv.route("/big.tar.gz", { body: gzip(tarOf(t)) });
    const dest = tmpdir();
    const r = await runDp({ PACKAGE_URL: `${srv.url}/big.tar.gz`, PACKAGE_DEST: dest });
    assert.equal(r.code, 0, r.stderr);
    const got = fs.readFileSync(path.join(dest, "big.bin"));
    assert.equal(crypto.createHash("sha256").update(got).digest("hex"), crypto.createHash("sha256").update(big).digest("hex"));
  });

  it("creates the destination when it does not exist", async () => {
    srv.route("/small.tar", { body: rawTar([{ name: "hello.txt", content: "hi\n" }]) });
    const dest = path.join(tmpdir(), "not/yet/there");
    const r = await runDp({ PACKAGE_URL: `${srv.url}/small.tar`, PACKAGE_DEST: dest });
    assert.equal(r.code, 0, r.stderr);
    assert.equal(fs.readFileSync(path.join(dest, "hello.txt"), "utf8"), "hi\n");
  });
});

describe("download-package fails clearly", () => {
  it("a 404 fails at once, exit 3, with the status in the message", async () => {
    const dest = tmpdir();
    const r = await runDp({ PACKAGE_URL: `${srv.url}/missing.tar.gz`, PACKAGE_DEST: dest });
    assert.equal(r.code, 3);
    assert.match(r.stderr, /HTTP 404/);
    assert.match(r.stderr, /hint=/);
    // "At once" is a behaviour, not a timing: one attempt per transport at most, no retry round.
    assert.doesNotMatch(r.stderr, /retrying/);
    assert.deepEqual(snapshot(dest), {});
  });

  it("a body that is not an archive fails with exit 5 and says what it looks like", async () => {
    srv.route("/page.tar.gz", { body: Buffer.from("<!DOCTYPE html><html><body>login</body></html>".padEnd(2000, " ")) });
    const dest = tmpdir();
    const r = await runDp({ PACKAGE_URL: `${srv.url}/page.tar.gz`, PACKAGE_DEST: dest });
    assert.equal(r.code, 5);
    assert.match(r.stderr, /not an archive: the body is an HTML page/);
    assert.deepEqual(snapshot(dest), {});
  });

  it("gzip data that is not a tar fails with exit 5", async () => {
    srv.route("/notar.gz", { body: gzip(Buffer.from("just some text\n".repeat(100))) });
    const r = await runDp({ PACKAGE_URL: `${srv.url}/notar.gz`, PACKAGE_DEST: tmpdir() });
    assert.equal(r.code, 5);
    assert.match(r.stderr, /gzip data that is not a tar archive/);
  });

  it("zip is named as an unsupported format (xz and bzip2: test/formats.test.ts)", async () => {
    srv.route("/pkg.zip", { body: Buffer.concat([Buffer.from("PK\x03\x04"), Buffer.alloc(600)]) });
    const r = await runDp({ PACKAGE_URL: `${srv.url}/pkg.zip`, PACKAGE_DEST: tmpdir() });
    assert.equal(r.code, 5);
    assert.match(r.stderr, /unsupported package format zip/);
  });

  it("a missing PACKAGE_URL is a usage error, exit 2", async () => {
    const r = await runDp({ PACKAGE_DEST: tmpdir() });
    assert.equal(r.code, 2);
    assert.match(r.stderr, /PACKAGE_URL is not set/);
  });

  it("an unknown PACKAGE_* variable is reported with a suggestion, exit 2", async () => {
    const r = await runDp({ PACKAGE_URL: `${srv.url}/small.tar`, PACKAGE_DEST: tmpdir(), PACKAGE_SHA265: "abc" });
    assert.equal(r.code, 2);
    assert.match(r.stderr, /unknown environment variable PACKAGE_SHA265.*did you mean PACKAGE_SHA256/);
  });

  it("Kubernetes service-link variables (PACKAGE_SERVICE_HOST...) are not typos", async () => {
    srv.route("/small.tar", { body: rawTar([{ name: "hello.txt", content: "hi\n" }]) });
    const r = await runDp({ PACKAGE_URL: `${srv.url}/small.tar`, PACKAGE_DEST: tmpdir(), PACKAGE_SERVICE_HOST: "10.0.0.1", PACKAGE_PORT: "tcp://10.0.0.1:80" });
    assert.equal(r.code, 0, r.stderr);
  });

  it("flags are twins of the variables and win over them", async () => {
    srv.route("/small.tar", { body: rawTar([{ name: "hello.txt", content: "hi\n" }]) });
    const dest = tmpdir();
    const r = await runDp({ PACKAGE_URL: `${srv.url}/nothing-here`, PACKAGE_DEST: "/nonexistent/never" }, ["--url", `${srv.url}/small.tar`, `--dest=${dest}`]);
    assert.equal(r.code, 0, r.stderr);
    assert.ok(fs.existsSync(path.join(dest, "hello.txt")));
  });

  it("--help lists every variable and --version names the packaging", async () => {
    const h = await runDp({}, ["--help"]);
    assert.equal(h.code, 0);
    for (const v of ["PACKAGE_URL", "PACKAGE_DEST", "LOG_FORMAT", "PACKAGE_SHA256", "PACKAGE_TRANSPORTS", "PACKAGE_LOCK_TIMEOUT"]) assert.match(h.stdout, new RegExp(v));
    const v = await runDp({}, ["--version"]);
    assert.equal(v.code, 0);
    assert.match(v.stdout, /^download-package \d+\.\d+\.\d+ .*node 24\./);
  });
});

describe("an older Node on PATH", () => {
  const old = ["/usr/bin/node", "/usr/local/bin/node"].find((p) => fs.existsSync(p));
  const major = old ? Number(execFileSync(old, ["-p", "process.versions.node.split('.')[0]"], { encoding: "utf8" })) : 0;
  const skip = !TARGET.endsWith(".cjs") ? "the bundle only" : !old || major >= 22 ? "no Node older than 22 on this machine" : false;
  it("`node dist/download-package.cjs` with the machine's old Node re-runs itself on the project's Node", { skip }, async () => {
    srv.route("/old-node.tar.gz", { body: gzip(tarOf(tree)) });
    const dest = tmpdir();
    const r = await exec(old!, [TARGET], { env: cleanEnv({ PACKAGE_URL: `${srv.url}/old-node.tar.gz`, PACKAGE_DEST: dest }) });
    assert.equal(r.status, 0, r.stderr);
    assert.deepEqual(snapshot(dest), snapshot(tree));
  });
});

describe("logs", () => {
  it("LOG_FORMAT=json gives one JSON object per line, with the URL's secrets redacted", async () => {
    const body = rawTar([{ name: "hello.txt", content: "hi\n" }]);
    srv.route("/small.tar", { body });
    const url = `${srv.url.replace("://", "://alice:pa55word@")}/small.tar?X-Amz-Signature=topsecret&v=1`;
    const r = await runDp({ PACKAGE_URL: url, PACKAGE_DEST: tmpdir(), LOG_FORMAT: "json" });
    assert.equal(r.code, 0, r.stderr);
    const lines = r.stderr.trim().split("\n");
    for (const l of lines) {
      const o = JSON.parse(l);
      assert.ok(o.time && o.level && o.msg);
    }
    assert.ok(!r.stderr.includes("pa55word") && !r.stderr.includes("topsecret") && !r.stderr.includes("alice"), r.stderr);
    assert.match(r.stderr, /X-Amz-Signature=REDACTED/);
    const summary = JSON.parse(lines[lines.length - 1]);
    assert.equal(summary.msg, "installed");
    assert.equal(summary.files, 1);
    // Sizes are numbers of bytes, with the human text beside them.
    assert.equal(summary.package, body.length);
    assert.equal(summary.packageHuman, `${(body.length / 1024).toFixed(2)} KiB`);
    assert.equal(typeof summary.bytes, "number");
    assert.equal(typeof summary.transferred, "number");
  });

  it("prints progress lines while a slow download runs", async () => {
    const t = makeTree({ "f.bin": { content: crypto.randomBytes(400_000) } });
    srv.route("/slow.tar", { body: tarOf(t), throttle: 300_000 });
    const r = await runDp({ PACKAGE_URL: `${srv.url}/slow.tar`, PACKAGE_DEST: tmpdir(), PACKAGE_PROGRESS_INTERVAL: "300ms" });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /progress bytes=.* percent=\d+(\.\d)?% rate=/);
    for (const m of r.stderr.matchAll(/ rate=("[^"]*"|\S+)/g)) assert.match(m[1], /^"\d+(\.\d{1,2})? (B|KiB|MiB|GiB)\/s"$/, "a rate is rounded like any size");
  });
});
