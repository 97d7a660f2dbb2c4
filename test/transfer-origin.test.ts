// Credentials and user headers stay with their origin (issue #13 item 10), and never reach a
// process list (item 11): on every transport, GNU and busybox wget included.

import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { makeTree, tarOf } from "./helpers/fixtures.ts";
import { runDp, snapshot, watchCommandLines } from "./helpers/run.ts";
import { startServer, type TestServer } from "./helpers/server.ts";
import { removeOnExit, scratchDir, transportCases } from "./helpers/transports.ts";

const tree = removeOnExit(makeTree({ "etc/app.conf": { content: "key = value\n".repeat(20_000), mode: 0o644 } }));
const pkg = tarOf(tree);
const expected = snapshot(tree);

let a: TestServer;
let b: TestServer;
before(async () => {
  a = await startServer();
  b = await startServer();
});
after(async () => {
  await a.close();
  await b.close();
});

const SECRETS = { "x-api-key": "key-123", cookie: "session=cookie-456", "private-token": "pt-789" };
const HEADERS = "X-Api-Key: key-123\nCookie: session=cookie-456\nPrivate-Token: pt-789";
let n = 0;

function secretFiles() {
  const dir = scratchDir();
  fs.writeFileSync(path.join(dir, "token"), "tok-abc\n");
  return { token: path.join(dir, "token") };
}

describe("credentials and user headers belong to their origin", () => {
  for (const t of transportCases()) {
    it(`a redirect to another origin gets none of them (${t.label})`, async () => {
      const p = `/o${++n}.tar`;
      b.route(p, { body: pkg });
      a.route(p, { redirect: `${b.url}${p}` });
      const { token } = secretFiles();
      const dest = scratchDir();
      const r = await runDp({ ...t.env, PACKAGE_URL: `${a.url}${p}`, PACKAGE_DEST: dest, PACKAGE_HEADERS: HEADERS, PACKAGE_TOKEN_FILE: token, PACKAGE_RETRIES: "0" });
      const atB = b.log.filter((l) => l.path === p);
      for (const l of atB) {
        for (const h of [...Object.keys(SECRETS), "authorization"]) assert.equal(l.headers[h], undefined, `${h} reached the other origin`);
      }
      if (t.name === "wget") {
        // wget can take none of them off its command line: it is skipped, with the reason.
        assert.equal(r.code, 3);
        assert.match(r.stderr, /wget skipped: the request carries credentials or user headers/);
        assert.equal(a.log.filter((l) => l.path === p).length, 0);
        return;
      }
      assert.equal(r.code, 0, r.stderr);
      assert.deepEqual(snapshot(dest), expected);
      assert.equal(atB.length, 1);
      const atA = a.log.find((l) => l.path === p)!;
      for (const [h, v] of Object.entries(SECRETS)) assert.equal(atA.headers[h], v);
      assert.equal(atA.headers.authorization, "Bearer tok-abc");
    });
  }

  for (const t of transportCases().filter((c) => c.name !== "wget")) {
    it(`a redirect within the origin keeps them; another port or scheme is another origin (${t.label})`, async () => {
      const p = `/o${++n}.tar`;
      a.route(`${p}.real`, { body: pkg });
      a.route(p, { redirect: `${a.url}${p}.real` });
      const r = await runDp({ ...t.env, PACKAGE_URL: `${a.url}${p}`, PACKAGE_DEST: scratchDir(), PACKAGE_HEADERS: HEADERS });
      assert.equal(r.code, 0, r.stderr);
      const real = a.log.find((l) => l.path === `${p}.real`)!;
      for (const [h, v] of Object.entries(SECRETS)) assert.equal(real.headers[h], v);
      // Same host, same scheme, another port: another origin.
      const q = `/o${++n}.tar`;
      b.route(q, { body: pkg });
      a.route(q, { redirect: `http://localhost:${b.port}${q}` });
      const r2 = await runDp({ ...t.env, PACKAGE_URL: `${a.url}${q}`, PACKAGE_DEST: scratchDir(), PACKAGE_HEADERS: HEADERS, PACKAGE_RETRIES: "0" });
      assert.equal(r2.code, 0, r2.stderr);
      assert.equal(b.log.find((l) => l.path === q)!.headers["x-api-key"], undefined);
    });
  }

  it("user-info credentials are not sent after a redirect to another origin (curl)", async () => {
    const p = `/o${++n}.tar`;
    b.route(p, { body: pkg });
    a.route(p, { redirect: `${b.url}${p}` });
    const r = await runDp({ PACKAGE_TRANSPORTS: "curl", PACKAGE_URL: `${a.url}${p}`.replace("://", "://bob:hunter2@"), PACKAGE_DEST: scratchDir() });
    assert.equal(r.code, 0, r.stderr);
    assert.equal(a.log.find((l) => l.path === p)!.headers.authorization, `Basic ${Buffer.from("bob:hunter2").toString("base64")}`);
    assert.equal(b.log.find((l) => l.path === p)!.headers.authorization, undefined);
  });
});

describe("no secret on a process list", () => {
  for (const [t, ran] of [["curl", /(^|\/)curl -q -K - $/], ["wget", /(^|\/)wget .*-i - $/]] as const) {
    it(`${t} reads a signed URL from stdin: the query never shows in ps (${t === "wget" ? "GNU wget" : t})`, async () => {
      const p = `/s${++n}.tar`;
      a.route(p, { body: pkg, throttle: 1_000_000 });
      const watch = watchCommandLines();
      const dest = scratchDir();
      const r = await runDp({ PACKAGE_TRANSPORTS: t, PACKAGE_URL: `${a.url}${p}?X-Amz-Signature=sig-very-secret&X-Amz-Credential=cred-secret`, PACKAGE_DEST: dest });
      const seen = await watch.stop();
      assert.equal(r.code, 0, r.stderr);
      assert.deepEqual(snapshot(dest), expected);
      assert.ok(seen.some((c) => ran.test(c)), `${t} ran`);
      assert.ok(!seen.some((c) => c.includes("sig-very-secret") || c.includes("cred-secret")), "query on a command line");
      assert.ok(!r.stderr.includes("sig-very-secret"));
    });
  }

  it("busybox wget would need the query on its command line: skipped, with the reason, and curl takes it", async (ctx) => {
    const bb = transportCases().find((c) => c.label === "wget-busybox");
    if (!bb) return ctx.skip("no /bin/busybox");
    const p = `/s${++n}.tar`;
    a.route(p, { body: pkg, throttle: 1_000_000 });
    const watch = watchCommandLines();
    const r = await runDp({ ...bb.env, PACKAGE_TRANSPORTS: "wget,curl", PACKAGE_URL: `${a.url}${p}?sig=sig-very-secret`, PACKAGE_DEST: scratchDir() });
    const seen = await watch.stop();
    assert.equal(r.code, 0, r.stderr);
    assert.equal((r.stderr.match(/wget skipped: busybox wget cannot read the URL from stdin/g) ?? []).length, 1, r.stderr);
    assert.match(r.stderr, /transports=curl /);
    assert.ok(!seen.some((c) => c.includes("sig-very-secret")), "query on a command line");
  });

  it("a transport skipped on a redirect hop (busybox wget, a signed URL elsewhere) is not in the summary's transports", async (ctx) => {
    const bb = transportCases().find((c) => c.label === "wget-busybox");
    if (!bb) return ctx.skip("no /bin/busybox");
    const p = `/h${++n}.tar`;
    b.route(p, { body: pkg });
    a.route(p, { redirect: `${b.url}${p}?sig=sig-very-secret` });
    const dest = scratchDir();
    const r = await runDp({ ...bb.env, PACKAGE_TRANSPORTS: "wget,curl", PACKAGE_URL: `${a.url}${p}`, PACKAGE_DEST: dest });
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(snapshot(dest), expected);
    assert.match(r.stderr, /wget skipped: busybox wget cannot read the URL from stdin/);
    assert.match(r.stderr, /installed .* transports=curl /);
  });

  for (const t of transportCases().filter((c) => c.name === "wget")) {
    it(`${t.label}: headers and proxy credentials are never handed to wget`, async () => {
      const p = `/s${++n}.tar`;
      a.route(p, { body: pkg, throttle: 1_000_000 });
      const watch = watchCommandLines();
      const r = await runDp({ ...t.env, PACKAGE_TRANSPORTS: "wget,curl", PACKAGE_URL: `${a.url}${p}`, PACKAGE_DEST: scratchDir(), PACKAGE_HEADERS: "X-Api-Key: key-in-argv" });
      const seen = await watch.stop();
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stderr, /wget skipped: the request carries credentials or user headers \(x-api-key\)/);
      assert.ok(!seen.some((c) => c.includes("key-in-argv")), "header on a command line");
    });
  }
});

describe("redirects are followed by the transfer, not by the transport", () => {
  it("busybox wget: a redirect to https is not followed by busybox (it does not verify certificates)", async (ctx) => {
    const bb = transportCases().find((c) => c.label === "wget-busybox");
    if (!bb) return ctx.skip("no /bin/busybox");
    const p = `/d${++n}.tar`;
    a.route(p, { redirect: `https://127.0.0.1:${b.port}${p}` });
    const r = await runDp({ ...bb.env, PACKAGE_URL: `${a.url}${p}`, PACKAGE_DEST: scratchDir(), PACKAGE_RETRIES: "0" });
    assert.equal(r.code, 3);
    assert.match(r.stderr, /wget skipped: busybox wget does not verify TLS certificates/);
  });

  for (const t of transportCases()) {
    it(`followed, and a loop is caught after one request each (${t.label})`, async () => {
      const p = `/d${++n}.tar`;
      b.route(p, { body: pkg });
      a.route(p, { redirect: `${b.url}${p}` });
      const dest = scratchDir();
      const r = await runDp({ ...t.env, PACKAGE_URL: `${a.url}${p}`, PACKAGE_DEST: dest });
      assert.equal(r.code, 0, r.stderr);
      assert.deepEqual(snapshot(dest), expected);
      assert.match(r.stderr, /redirected to=/);
      const q = `/d${++n}`;
      a.route(q, { redirect: `${b.url}${q}` });
      b.route(q, { redirect: `${a.url}${q}` });
      const loop = await runDp({ ...t.env, PACKAGE_URL: `${a.url}${q}`, PACKAGE_DEST: scratchDir() });
      assert.equal(loop.code, 3);
      assert.match(loop.stderr, /redirect loop/);
      if (t.label === "wget-busybox") return; // it may follow a few hops itself before it is stopped (its answers are thrown away)
      assert.equal(a.log.filter((l) => l.path === q).length, 1);
      assert.equal(b.log.filter((l) => l.path === q).length, 1);
    });
  }
});
