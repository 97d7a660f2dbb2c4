// Resume never joins two versions (issue #13 item 9): a server whose content changes between
// attempts, with and without validators, weak validators, a 206 of another version, a lying
// Content-Range, an ignored Range — on every transport, and across mirrors. The installed
// tree is compared exactly: it is always one version, never a mix.

import assert from "node:assert/strict";
import crypto from "node:crypto";
import { after, before, describe, it } from "node:test";
import { makeTree, tarOf } from "./helpers/fixtures.ts";
import { runDp, snapshot } from "./helpers/run.ts";
import { startServer, type Route, type TestServer } from "./helpers/server.ts";
import { removeOnExit, scratchDir, transportCases } from "./helpers/transports.ts";

// Two versions of the same package, byte for byte the same size (plain tar), so only the
// validators and the content can tell them apart.
const version = (seed: string) => {
  const dir = removeOnExit(makeTree({ "data/blob.bin": { content: crypto.createHash("sha512").update(seed).digest().toString("hex").repeat(8192), mode: 0o644 }, "VERSION": { content: `${seed}\n`, mode: 0o644 } }));
  return { tar: tarOf(dir), tree: snapshot(dir) };
};
const A = version("A");
const B = version("B");
assert.equal(A.tar.length, B.tar.length);
const CUT = 300_000;

let srv: TestServer;
before(async () => (srv = await startServer()));
after(() => srv.close());
let n = 0;
const route = (r: Route) => {
  const p = `/r${++n}.tar`;
  srv.route(p, r);
  return { path: p, url: `${srv.url}${p}` };
};
const summary = (stderr: string) => stderr.split("\n").find((l) => / installed /.test(l)) ?? "";
const tagged = (i: number) => (i === 0 ? '"A"' : '"B"');

const scenarios: { name: string; route: () => Route; expect: typeof A }[] = [
  { name: "content changes, each version with its own strong ETag", route: () => ({ bodies: [A.tar, B.tar], etag: tagged, dropAt: { 0: CUT } }), expect: B },
  { name: "content changes, no validators at all", route: () => ({ bodies: [A.tar, B.tar], etag: () => "none", dropAt: { 0: CUT } }), expect: B },
  { name: "content changes, weak ETag and a Last-Modified as recent as the Date", route: () => ({ bodies: [A.tar, B.tar], etag: () => 'W/"same"', lastModified: () => new Date().toUTCString(), dropAt: { 0: CUT } }), expect: B },
  { name: "a 206 of another version (the server ignores If-Range)", route: () => ({ bodies: [A.tar, B.tar], etag: tagged, ignoreIfRange: true, dropAt: { 0: CUT } }), expect: B },
  { name: "a 206 whose Content-Range starts elsewhere", route: () => ({ body: A.tar, contentRange: (s, e, t) => `bytes ${s + 512}-${e}/${t}`, dropAt: { 0: CUT } }), expect: A },
  { name: "a 206 whose Content-Range has another total", route: () => ({ body: A.tar, contentRange: (s, e, t) => `bytes ${s}-${e}/${t + 512}`, dropAt: { 0: CUT } }), expect: A },
  { name: "the server ignores Range and answers 200 with the whole body", route: () => ({ body: A.tar, ignoreRange: true, dropAt: { 0: CUT } }), expect: A },
];

for (const t of transportCases()) {
  describe(`resume rule (${t.label})`, () => {
    for (const sc of scenarios) {
      it(`${sc.name}: installs exactly one version, starting over`, async () => {
        const r0 = route(sc.route());
        const dest = scratchDir();
        const r = await runDp({ ...t.env, PACKAGE_URL: r0.url, PACKAGE_DEST: dest });
        assert.equal(r.code, 0, r.stderr);
        if (t.via) assert.match(r.stderr, new RegExp(`via="?${t.via}`));
        assert.deepEqual(snapshot(dest), sc.expect.tree);
        assert.match(summary(r.stderr), /restarts=1 /, r.stderr);
        assert.match(summary(r.stderr), /resumes=0 /);
      });
    }

    it("nothing changed and a strong validator: resumes with If-Range (wget: starts over)", async () => {
      const r0 = route({ body: A.tar, dropAt: { 0: CUT } });
      const dest = scratchDir();
      const r = await runDp({ ...t.env, PACKAGE_URL: r0.url, PACKAGE_DEST: dest });
      assert.equal(r.code, 0, r.stderr);
      assert.deepEqual(snapshot(dest), A.tree);
      const second = srv.log.filter((l) => l.path === r0.path)[1];
      if (t.resumes) {
        assert.equal(second.status, 206);
        assert.equal(second.headers["if-range"], `"v1-${A.tar.length}"`);
        assert.match(summary(r.stderr), /resumes=1 restarts=0 /);
      } else {
        assert.equal(second.headers.range, undefined);
        assert.match(summary(r.stderr), /resumes=0 restarts=1 /);
      }
    });

    it("a weak ETag but a Last-Modified long before the Date: resumes with If-Range on the date (wget: starts over)", async () => {
      const r0 = route({ body: A.tar, etag: () => 'W/"weak"', dropAt: { 0: CUT } });
      const dest = scratchDir();
      const r = await runDp({ ...t.env, PACKAGE_URL: r0.url, PACKAGE_DEST: dest });
      assert.equal(r.code, 0, r.stderr);
      assert.deepEqual(snapshot(dest), A.tree);
      const second = srv.log.filter((l) => l.path === r0.path)[1];
      if (!t.resumes) return assert.equal(second.headers.range, undefined);
      assert.equal(second.status, 206);
      assert.equal(second.headers["if-range"], "Thu, 01 Jan 2026 00:00:00 GMT");
      assert.match(summary(r.stderr), /resumes=1 restarts=0 /);
    });
  });
}

describe("resume rule across mirrors", () => {
  // The first mirror breaks mid-stream and then refuses connections; the second has another version.
  const broken = (): Route => ({ body: A.tar, etag: () => '"A"', dropAt: { 0: CUT }, resetOn: [1, 2, 3, 4, 5, 6, 7, 8] });

  it("a second mirror with another version is asked with If-Range and starts over", async () => {
    const a = route(broken());
    const b = route({ body: B.tar, etag: () => '"B"' });
    const dest = scratchDir();
    const r = await runDp({ PACKAGE_URL: `${a.url} ${b.url}`, PACKAGE_DEST: dest, PACKAGE_TRANSPORTS: "undici" });
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(snapshot(dest), B.tree);
    const fromB = srv.log.filter((l) => l.path === b.path);
    assert.equal(fromB[0].headers["if-range"], '"A"');
    assert.equal(fromB[0].status, 200);
  });

  it("a second mirror that ignores If-Range and answers 206 of another version is not joined", async () => {
    const a = route(broken());
    const b = route({ body: B.tar, etag: () => '"B"', ignoreIfRange: true });
    const dest = scratchDir();
    const r = await runDp({ PACKAGE_URL: `${a.url} ${b.url}`, PACKAGE_DEST: dest, PACKAGE_TRANSPORTS: "undici,curl" });
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(snapshot(dest), B.tree);
    assert.match(summary(r.stderr), /restarts=1 /);
  });

  it("a second mirror with the same version and total resumes", async () => {
    const a = route(broken());
    const b = route({ body: A.tar, etag: () => '"A"' });
    const dest = scratchDir();
    const r = await runDp({ PACKAGE_URL: `${a.url} ${b.url}`, PACKAGE_DEST: dest, PACKAGE_TRANSPORTS: "node" });
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(snapshot(dest), A.tree);
    assert.equal(srv.log.filter((l) => l.path === b.path)[0].status, 206);
    assert.match(summary(r.stderr), /resumes=1 restarts=0 /);
  });
});

describe("a re-run without a checksum asks the server (If-None-Match) on every transport", () => {
  for (const t of transportCases()) {
    it(`304 means nothing to do (${t.label})`, async () => {
      const r0 = route({ body: A.tar });
      const dest = scratchDir();
      const first = await runDp({ ...t.env, PACKAGE_URL: r0.url, PACKAGE_DEST: dest });
      assert.equal(first.code, 0, first.stderr);
      const again = await runDp({ ...t.env, PACKAGE_URL: r0.url, PACKAGE_DEST: dest });
      assert.equal(again.code, 0, again.stderr);
      assert.match(again.stderr, /the server says the package is not modified/);
      const second = srv.log.filter((l) => l.path === r0.path)[1];
      assert.equal(second.headers["if-none-match"], `"v1-${A.tar.length}"`);
      assert.equal(second.status, 304);
      assert.deepEqual(snapshot(dest), A.tree);
    });
  }
});

describe("wget and resumed requests", () => {
  for (const t of transportCases().filter((c) => c.name === "wget")) {
    it(`${t.label} cut mid-stream: the next transport resumes, wget is skipped for it with one line`, async () => {
      const r0 = route({ body: A.tar, dropAt: { 0: CUT } });
      const dest = scratchDir();
      const r = await runDp({ ...t.env, PACKAGE_TRANSPORTS: "wget,undici", PACKAGE_URL: r0.url, PACKAGE_DEST: dest });
      assert.equal(r.code, 0, r.stderr);
      assert.deepEqual(snapshot(dest), A.tree);
      assert.equal((r.stderr.match(/wget skipped for the resumed request: it cannot ask for a byte range safely/g) ?? []).length, 1, r.stderr);
      const [first, second] = srv.log.filter((l) => l.path === r0.path);
      assert.equal(first.headers.range, undefined);
      assert.equal(second.status, 206);
      assert.match(summary(r.stderr), /resumes=1 restarts=0 transports=wget,undici /);
    });
  }
});
