// Extraction on a worker thread (src/archive/worker-sink.ts): the same tree, the same typed
// errors and exit codes, the same restart behaviour as inline extraction.

import assert from "node:assert/strict";
import crypto from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { gzip, rawTar, zstd, type RawEntry } from "./helpers/fixtures.ts";
import { runDp, snapshot, tmpdir } from "./helpers/run.ts";
import { startServer, type TestServer } from "./helpers/server.ts";

let srv: TestServer;
before(async () => (srv = await startServer()));
after(() => srv.close());

// Over INLINE_BELOW_BYTES (8 MiB), so that the default picks the worker too.
const big = crypto.randomBytes(9 * 1024 * 1024);
const entries: RawEntry[] = [
  { name: "app/", type: "5", mode: 0o750 },
  { name: "app/big.bin", content: big },
  ...Array.from({ length: 50 }, (_, i) => ({ name: `app/lib/f${i}.txt`, content: `file ${i}\n`.repeat(i + 1) })),
  { name: "app/link", type: "2", linkname: "big.bin" },
  { name: "app/run.sh", content: "#!/bin/sh\n", mode: 0o755 },
];
const plain = rawTar(entries);
const sha = (b: Buffer) => crypto.createHash("sha256").update(b).digest("hex");

let n = 0;
async function install(body: Buffer, env: Record<string, string>, route: Record<string, unknown> = {}) {
  const p = `/pkg${++n}`;
  srv.route(p, { body, ...route });
  const dest = path.join(tmpdir("dp-worker-"), "dest");
  const r = await runDp({ PACKAGE_URL: `${srv.url}${p}`, PACKAGE_DEST: dest, ...env });
  return { r, dest };
}

describe("extraction on a worker thread", () => {
  let expected: Record<string, string>;
  before(async () => {
    const { r, dest } = await install(plain, { DP_SINK: "inline" });
    assert.equal(r.code, 0, r.stderr);
    expected = snapshot(dest);
    assert.equal(fs.readFileSync(path.join(dest, "app/big.bin")).equals(big), true);
  });

  for (const [name, body] of [["tar", plain], ["tar.gz", gzip(plain)], ["tar.zst", zstd(plain)]] as const) {
    it(`${name}: the worker and the default write the same tree as inline extraction`, async () => {
      for (const mode of ["worker", ""]) {
        const { r, dest } = await install(body, { DP_SINK: mode, PACKAGE_SHA256: sha(body) });
        assert.equal(r.code, 0, r.stderr);
        assert.deepEqual(snapshot(dest), expected);
        assert.match(r.stderr, /files=52 /);
      }
    });
  }

  it("an unsafe last entry is exit 5 with its message, and nothing is installed", async () => {
    // The error is found once every byte has been written: it must not be lost at the end.
    const body = rawTar([...entries, { name: "/etc/evil", content: "x" }]);
    const { r, dest } = await install(body, { DP_SINK: "worker" });
    assert.equal(r.code, 5, r.stderr);
    assert.match(r.stderr, /unsafe archive entry "\/etc\/evil": has an absolute path/);
    assert.doesNotMatch(r.stderr, /installed/);
    assert.equal(fs.existsSync(path.join(dest, "app")), false);
  });

  it("a tar without its end-of-archive marker is exit 5 (found at the end, on the worker)", async () => {
    const cut = plain.subarray(0, plain.length - 1024);
    const { r } = await install(cut, { DP_SINK: "worker" });
    assert.equal(r.code, 5, r.stderr);
    assert.match(r.stderr, /truncated tar archive/);
  });

  it("a checksum mismatch is exit 4 (hashed on the main thread)", async () => {
    const { r, dest } = await install(plain, { DP_SINK: "worker", PACKAGE_SHA256: "0".repeat(64) });
    assert.equal(r.code, 4, r.stderr);
    assert.match(r.stderr, /checksum mismatch/);
    assert.equal(fs.existsSync(path.join(dest, "app")), false);
  });

  it("a restart from byte 0 drops the worker and its staging directory, and the next one installs", async () => {
    const { r, dest } = await install(plain, {}, { dropAt: { 0: 6 * 1024 * 1024 }, ignoreRange: true });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /starting the package over from byte 0/);
    assert.deepEqual(snapshot(dest), expected);
    assert.deepEqual(fs.readdirSync(path.join(dest, ".download-package")), ["installed.json"]);
  });
});
