// Package formats (issue 20): PACKAGE_FORMAT overriding detection, .tar.xz and .tar.bz2
// through the system's decoder process, and PACKAGE_FORMAT=file.

import assert from "node:assert/strict";
import zlib from "node:zlib";
import { after, before, describe, it } from "node:test";
import { makeTree, tarOf } from "./helpers/fixtures.ts";
import { runDp, snapshot } from "./helpers/run.ts";
import { startServer, type TestServer } from "./helpers/server.ts";
import { removeOnExit, scratchDir } from "./helpers/transports.ts";

const tree = removeOnExit(makeTree({ "etc/app.conf": { content: "key=value\n".repeat(5000), mode: 0o644 }, "bin/run": { content: "#!/bin/sh\necho hi\n", mode: 0o755 } }));
const tar = tarOf(tree);

let srv: TestServer;
before(async () => {
  srv = await startServer();
});
after(async () => {
  await srv.close();
});

let n = 0;
async function serveAndRun(body: Buffer, env: Record<string, string> = {}, name = `p${++n}`) {
  const p = `/${name}`;
  srv.route(p, { body });
  const dest = scratchDir();
  const r = await runDp({ PACKAGE_URL: `${srv.url}${p}`, PACKAGE_DEST: dest, ...env });
  return { r, dest };
}

describe("PACKAGE_FORMAT", () => {
  it("a declared format that matches the bytes installs", async () => {
    const { r, dest } = await serveAndRun(zlib.gzipSync(tar), { PACKAGE_FORMAT: "tar.gz" });
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(snapshot(dest), snapshot(tree));
  });

  it("a declared format that disagrees with the magic bytes is exit 5 naming both", async () => {
    const { r, dest } = await serveAndRun(zlib.gzipSync(tar), { PACKAGE_FORMAT: "tar.zst" });
    assert.equal(r.code, 5, r.stderr);
    assert.match(r.stderr, /PACKAGE_FORMAT is tar\.zst but the body is gzip data/);
    assert.deepEqual(snapshot(dest), {});
  });

  it("on the worker sink too (a plain tar declared tar.gz)", async () => {
    const { r } = await serveAndRun(tar, { PACKAGE_FORMAT: "tar.gz", DP_SINK: "worker" });
    assert.equal(r.code, 5, r.stderr);
    assert.match(r.stderr, /PACKAGE_FORMAT is tar\.gz but the body is tar data/);
  });

  it("declared tar, served a non-archive: exit 5 naming both", async () => {
    const { r } = await serveAndRun(Buffer.from("<html>login</html>"), { PACKAGE_FORMAT: "tar" });
    assert.equal(r.code, 5, r.stderr);
    assert.match(r.stderr, /PACKAGE_FORMAT is tar but the body is an HTML page/);
  });

  it("an unknown value, and zip, are exit 2 before any download", async () => {
    for (const [value, msg] of [["rar", /unknown PACKAGE_FORMAT "rar"/], ["zip", /zip is not supported yet/]] as const) {
      const before = srv.log.length;
      const { r } = await serveAndRun(tar, { PACKAGE_FORMAT: value });
      assert.equal(r.code, 2, r.stderr);
      assert.match(r.stderr, msg);
      assert.equal(srv.log.length, before);
    }
  });

  it("the --format flag works like the variable", async () => {
    srv.route("/flag", { body: zlib.gzipSync(tar) });
    const r = await runDp({ PACKAGE_URL: `${srv.url}/flag`, PACKAGE_DEST: scratchDir() }, ["--format", "tar.xz"]);
    assert.equal(r.code, 5, r.stderr);
    assert.match(r.stderr, /PACKAGE_FORMAT is tar\.xz but the body is gzip data/);
  });
});
