// Damaged bytes are a checksum mismatch, not an archive error: with a checksum expected, a
// corrupt .tar.gz or .tar.zst body breaks the decoder before its digest could be compared; the
// rest of the body is still read and hashed (not extracted), and the run ends with exit 4 when
// the digest differs; exit 5 (the archive's error) only for bytes that match the checksum.

import assert from "node:assert/strict";
import crypto from "node:crypto";
import zlib from "node:zlib";
import { after, before, describe, it } from "node:test";
import { makeTree, tarOf } from "./helpers/fixtures.ts";
import { runDp, snapshot } from "./helpers/run.ts";
import { startServer, type TestServer } from "./helpers/server.ts";
import { removeOnExit, scratchDir } from "./helpers/transports.ts";

// Compressible text: a flipped byte breaks the deflate/zstd stream early, not at its end.
const lines = Array.from({ length: 60_000 }, (_, i) => `line ${i} key=${i % 97} value=${(i * 7919) % 10007}\n`).join("");
const tree = removeOnExit(makeTree({ "etc/app.conf": { content: lines, mode: 0o644 } }));
const previous = removeOnExit(makeTree({ "old.txt": { content: "the installed version\n", mode: 0o644 } }));
const tar = tarOf(tree);
const bodies = { gzip: zlib.gzipSync(tar), zstd: zlib.zstdCompressSync(tar) };
const sha256 = (b: Buffer) => crypto.createHash("sha256").update(b).digest("hex");
const corrupted = (b: Buffer, at: number) => {
  const c = Buffer.from(b);
  c[at] ^= 0xff;
  return c;
};

// Bytes per second: the decoder sees the damage while the body is still arriving.
const THROTTLE = 1_000_000;

let srv: TestServer;
before(async () => {
  srv = await startServer();
});
after(async () => {
  await srv.close();
});

let n = 0;
/** A destination holding the previous version, installed by a run. */
async function installedDest(): Promise<string> {
  const dest = scratchDir();
  const p = `/prev${++n}.tar`;
  const body = tarOf(previous);
  srv.route(p, { body });
  const r = await runDp({ PACKAGE_URL: `${srv.url}${p}`, PACKAGE_DEST: dest, PACKAGE_SHA256: sha256(body) });
  assert.equal(r.code, 0, r.stderr);
  return dest;
}

describe("a corrupt compressed body with a checksum expected", () => {
  for (const format of ["gzip", "zstd"] as const) {
    it(`${format}: exit 4 checksum mismatch, the whole body read, the installed version kept`, async () => {
      const body = bodies[format];
      const at = Math.floor(body.length / 4);
      const p = `/c${++n}.tar.${format === "gzip" ? "gz" : "zst"}`;
      srv.route(p, { body, corruptAt: at, throttle: THROTTLE });
      const dest = await installedDest();
      const r = await runDp({ PACKAGE_URL: `${srv.url}${p}`, PACKAGE_DEST: dest, PACKAGE_SHA256: sha256(body) });
      assert.equal(r.code, 4, r.stderr);
      assert.match(r.stderr, new RegExp(`checksum mismatch: expected sha256:${sha256(body)}, got sha256:${sha256(corrupted(body, at))}`));
      const served = srv.log.filter((l) => l.path === p);
      assert.equal(served.length, 1, "read on, not retried");
      assert.equal(served[0].bytes, body.length, "the rest of the body was read and hashed");
      assert.deepEqual(snapshot(dest), snapshot(previous));
    });
  }

  it("the same damaged bytes, when they are what the checksum names: the archive's error, exit 5", async () => {
    const bad = corrupted(bodies.gzip, Math.floor(bodies.gzip.length / 4));
    const p = `/c${++n}.tar.gz`;
    srv.route(p, { body: bad });
    const dest = await installedDest();
    const r = await runDp({ PACKAGE_URL: `${srv.url}${p}`, PACKAGE_DEST: dest, PACKAGE_SHA256: sha256(bad) });
    assert.equal(r.code, 5, r.stderr);
    assert.match(r.stderr, /corrupt gzip data/);
    assert.doesNotMatch(r.stderr, /checksum mismatch/);
    assert.deepEqual(snapshot(dest), snapshot(previous));
  });

  it("a body that is not an archive at all, with a checksum that differs: exit 4", async () => {
    const html = Buffer.from("<!doctype html><html><body>login required</body></html>\n".repeat(100));
    const p = `/c${++n}.tar.gz`;
    srv.route(p, { body: html });
    const r = await runDp({ PACKAGE_URL: `${srv.url}${p}`, PACKAGE_DEST: scratchDir(), PACKAGE_SHA256: sha256(bodies.gzip) });
    assert.equal(r.code, 4, r.stderr);
    assert.match(r.stderr, /checksum mismatch.*not an archive/);
  });

  it("without a checksum, a corrupt body is the archive's error at once (exit 5)", async () => {
    const p = `/c${++n}.tar.gz`;
    srv.route(p, { body: bodies.gzip, corruptAt: Math.floor(bodies.gzip.length / 4) });
    const r = await runDp({ PACKAGE_URL: `${srv.url}${p}`, PACKAGE_DEST: scratchDir() });
    assert.equal(r.code, 5, r.stderr);
    assert.match(r.stderr, /corrupt gzip data/);
  });

  it("reading on is bounded by PACKAGE_MAX_BYTES: past it, the archive's error", async () => {
    const p = `/c${++n}.tar.gz`;
    srv.route(p, { body: bodies.gzip, corruptAt: 100, throttle: THROTTLE });
    const r = await runDp({ PACKAGE_URL: `${srv.url}${p}`, PACKAGE_DEST: scratchDir(), PACKAGE_SHA256: sha256(bodies.gzip), PACKAGE_MAX_BYTES: `${Math.floor(bodies.gzip.length / 2)}` });
    assert.equal(r.code, 5, r.stderr);
    assert.match(r.stderr, /corrupt gzip data/);
    const served = srv.log.filter((l) => l.path === p);
    assert.ok(served.length === 1 && served[0].bytes < bodies.gzip.length, `stopped reading: ${served[0]?.bytes} of ${bodies.gzip.length}`);
  });
});
