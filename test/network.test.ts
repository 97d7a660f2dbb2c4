// The transfer under bad networks: every case against the misbehaving loopback server.

import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import crypto from "node:crypto";
import fs from "node:fs";
import net from "node:net";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { gzip, makeCerts, makeTree, tarOf } from "./helpers/fixtures.ts";
import { runDp, snapshot, tmpdir, watchCommandLines } from "./helpers/run.ts";
import { startProxy, startServer, type TestServer } from "./helpers/server.ts";

const tree = makeTree({
  "data/random.bin": { content: crypto.randomBytes(3 * 1024 * 1024), mode: 0o644 },
  "data/notes.txt": { content: "notes\n".repeat(1000), mode: 0o600 },
  "bin/tool": { content: "#!/bin/sh\n", mode: 0o755 },
});
const pkg = gzip(tarOf(tree));
const expected = snapshot(tree);

let srv: TestServer;
before(async () => (srv = await startServer()));
after(() => srv.close());

let n = 0;
const route = (r: Parameters<TestServer["route"]>[1]) => {
  const p = `/p${++n}.tar.gz`;
  srv.route(p, { body: pkg, ...r });
  return { path: p, url: `${srv.url}${p}` };
};
const summary = (stderr: string) => stderr.split("\n").find((l) => / installed /.test(l)) ?? "";

async function closedPort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((r) => s.listen(0, "127.0.0.1", r));
  const port = (s.address() as net.AddressInfo).port;
  await new Promise((r) => s.close(r));
  return port;
}

describe("resume", () => {
  it("a package whose every response is cut after 30% arrives complete with at most 1.1x its size transferred", async () => {
    const r0 = route({ dropFraction: 0.3 });
    const dest = tmpdir();
    const r = await runDp({ PACKAGE_URL: r0.url, PACKAGE_DEST: dest });
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(snapshot(dest), expected);
    const sent = srv.bytesSent(r0.path);
    assert.ok(sent <= pkg.length * 1.1, `sent ${sent} for ${pkg.length}`);
    const reqs = srv.log.filter((l) => l.path === r0.path);
    assert.ok(reqs.length >= 4);
    assert.ok(reqs.slice(1).every((l) => l.status === 206 && /^bytes=\d+-$/.test(String(l.headers.range)) && l.headers["if-range"]));
    assert.match(summary(r.stderr), /resumes=3/);
  });

  it("starts over cleanly when the server ignores Range", async () => {
    const r0 = route({ dropAt: { 0: 200_000 }, ignoreRange: true });
    const dest = tmpdir();
    const r = await runDp({ PACKAGE_URL: r0.url, PACKAGE_DEST: dest });
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(snapshot(dest), expected);
    assert.match(r.stderr, /starting the package over from byte 0/);
    assert.match(summary(r.stderr), /restarts=1/);
  });

  it("starts over cleanly when the content changed (ETag differs, If-Range fails)", async () => {
    const r0 = route({ dropAt: { 0: 200_000 }, etag: (i) => `"gen-${i}"` });
    const dest = tmpdir();
    const r = await runDp({ PACKAGE_URL: r0.url, PACKAGE_DEST: dest });
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(snapshot(dest), expected);
    const second = srv.log.filter((l) => l.path === r0.path)[1];
    assert.equal(second.headers["if-range"], '"gen-0"');
    assert.equal(second.status, 200);
    assert.match(summary(r.stderr), /restarts=1/);
  });

  it("resumes on the next mirror when the first one breaks mid-stream", async () => {
    const a = route({ dropAt: { 0: 500_000 }, resetOn: [1, 2, 3, 4, 5, 6, 7, 8] });
    const b = route({});
    const dest = tmpdir();
    const r = await runDp({ PACKAGE_URL: `${a.url} ${b.url}`, PACKAGE_DEST: dest, PACKAGE_TRANSPORTS: "undici" });
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(snapshot(dest), expected);
    const fromB = srv.log.filter((l) => l.path === b.path);
    assert.equal(fromB[0].status, 206);
    assert.ok(srv.bytesSent(a.path) + srv.bytesSent(b.path) <= pkg.length * 1.1);
  });
});

describe("retries", () => {
  it("503, 503, 200 succeeds", async () => {
    const r0 = route({ statuses: [503, 503] });
    const dest = tmpdir();
    const r = await runDp({ PACKAGE_URL: r0.url, PACKAGE_DEST: dest });
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(snapshot(dest), expected);
    assert.deepEqual(srv.log.filter((l) => l.path === r0.path).map((l) => l.status), [503, 503, 200]);
    assert.match(summary(r.stderr), /attempts=3/);
  });

  it("honours Retry-After", async () => {
    const r0 = route({ statuses: [429], retryAfter: "1" });
    const r = await runDp({ PACKAGE_URL: r0.url, PACKAGE_DEST: tmpdir() });
    assert.equal(r.code, 0, r.stderr);
    const [first, second] = srv.log.filter((l) => l.path === r0.path);
    assert.ok(second.at - first.at >= 950, `waited ${second.at - first.at} ms`);
  });

  it("gives up after PACKAGE_RETRIES failed rounds, exit 3", async () => {
    const r0 = route({ statuses: Array(10).fill(500) });
    const dest = tmpdir();
    const r = await runDp({ PACKAGE_URL: r0.url, PACKAGE_DEST: dest, PACKAGE_RETRIES: "2" });
    assert.equal(r.code, 3);
    assert.match(r.stderr, /giving up after 3 failed rounds in a row \(3 attempts\): HTTP 500/);
    assert.doesNotMatch(r.stderr.split("\n").filter(Boolean).pop()!, /retried|will be/, "the last line does not promise a retry");
    assert.equal(srv.log.filter((l) => l.path === r0.path).length, 3);
    assert.deepEqual(snapshot(dest), {});
  });

  it("a 4xx other than 408/429 is not retried", async () => {
    const r0 = route({ statuses: [403] });
    const r = await runDp({ PACKAGE_URL: r0.url, PACKAGE_DEST: tmpdir() });
    assert.equal(r.code, 3);
    assert.match(r.stderr, /HTTP 403/);
    assert.equal(srv.log.filter((l) => l.path === r0.path).length, 1);
  });

  it("mirrors: unreachable, then 404, then the one that has it", async () => {
    const dead = `http://127.0.0.1:${await closedPort()}/pkg.tar.gz`;
    const good = route({});
    const dest = tmpdir();
    const r = await runDp({ PACKAGE_URL: `${dead},${srv.url}/absent.tar.gz ${good.url}`, PACKAGE_DEST: dest });
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(snapshot(dest), expected);
  });
});

describe("timeouts", () => {
  it("a stall fails within the idle timeout, exit 3", async () => {
    const r0 = route({ stallAfter: 0 });
    const dest = tmpdir();
    const r = await runDp({ PACKAGE_URL: r0.url, PACKAGE_DEST: dest, PACKAGE_IDLE_TIMEOUT: "1s", PACKAGE_RETRIES: "0", PACKAGE_TRANSPORTS: "undici" });
    assert.equal(r.code, 3);
    assert.match(r.stderr, /no data for 1s/);
    assert.ok(r.ms < 4000, `took ${r.ms} ms`);
    assert.deepEqual(snapshot(dest), {});
  });

  it("a stalled response is cut by the idle timeout and the download resumes", async () => {
    const r0 = route({ stallAfter: 100_000, stallOn: [0] });
    const dest = tmpdir();
    const r = await runDp({ PACKAGE_URL: r0.url, PACKAGE_DEST: dest, PACKAGE_IDLE_TIMEOUT: "1s" });
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(snapshot(dest), expected);
    assert.equal(srv.log.filter((l) => l.path === r0.path)[1].status, 206);
  });

  it("a server that never answers headers is cut by the idle timeout too", async () => {
    const r0 = route({ stallHeaders: true });
    const r = await runDp({ PACKAGE_URL: r0.url, PACKAGE_DEST: tmpdir(), PACKAGE_IDLE_TIMEOUT: "1s", PACKAGE_RETRIES: "0" });
    assert.equal(r.code, 3);
    assert.match(r.stderr, /no data for 1s/);
  });

  it("a connect that never completes is cut by the connect timeout, on every transport", async () => {
    // A listening socket whose accept queue is full: the kernel drops further SYNs, so a
    // connect hangs, all on loopback. (Node's own servers always accept; python3 holds the queue.)
    const holder = spawn("python3", ["-c", [
      "import socket,sys,time",
      "s=socket.socket(); s.bind(('127.0.0.1',0)); s.listen(0)",
      "c=socket.socket(); c.connect(s.getsockname())",
      "print(s.getsockname()[1], flush=True)",
      "time.sleep(60)",
    ].join("\n")], { stdio: ["ignore", "pipe", "inherit"] });
    try {
      const port = await new Promise<string>((resolve) => holder.stdout.once("data", (d) => resolve(String(d).trim())));
      const r = await runDp({ PACKAGE_URL: `http://127.0.0.1:${port}/p.tar.gz`, PACKAGE_DEST: tmpdir(), PACKAGE_CONNECT_TIMEOUT: "1s", PACKAGE_RETRIES: "0", PACKAGE_TRANSPORTS: "undici,node,curl,wget" });
      assert.equal(r.code, 3);
      assert.equal((r.stderr.match(/attempt failed/g) ?? []).length, 4, r.stderr);
      assert.match(r.stderr, /transport=undici/);
      assert.match(r.stderr, /connect timeout after 1000 ms.* transport=node/);
      assert.ok(r.ms < 9000, `took ${r.ms} ms`);
    } finally {
      holder.kill();
    }
  });

  it("the total deadline stops a slow download, exit 3", async () => {
    const r0 = route({ throttle: 200_000 });
    const r = await runDp({ PACKAGE_URL: r0.url, PACKAGE_DEST: tmpdir(), PACKAGE_TIMEOUT: "1s" });
    assert.equal(r.code, 3);
    assert.match(r.stderr, /total deadline of 1s exceeded/);
    assert.ok(r.ms < 3000);
  });
});

describe("transports", () => {
  for (const t of ["undici", "node", "curl", "wget"]) {
    it(`${t} alone downloads and resumes (wget: starts over)`, async () => {
      const r0 = route({ dropAt: { 0: 700_000 } });
      const dest = tmpdir();
      const r = await runDp({ PACKAGE_URL: r0.url, PACKAGE_DEST: dest, PACKAGE_TRANSPORTS: t });
      assert.equal(r.code, 0, r.stderr);
      assert.deepEqual(snapshot(dest), expected);
      assert.match(summary(r.stderr), new RegExp(`transports=${t} `));
      // wget cannot ask for a range safely: alone, it starts over from byte 0 instead.
      const second = srv.log.filter((l) => l.path === r0.path)[1];
      if (t === "wget") {
        assert.equal(second.status, 200);
        assert.equal(second.headers.range, undefined);
        assert.match(summary(r.stderr), /restarts=1 /);
      } else assert.equal(second.status, 206);
    });
  }

  it("a killed undici connection falls back to the next transport", async () => {
    const r0 = route({ resetOn: [0] });
    const dest = tmpdir();
    const r = await runDp({ PACKAGE_URL: r0.url, PACKAGE_DEST: dest });
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(snapshot(dest), expected);
    assert.match(summary(r.stderr), /transports=undici,node /);
    assert.match(summary(r.stderr), /attempts=2 /);
  });

  it("404 on every transport still fails at once (the answer is judged, not retried)", async () => {
    const r = await runDp({ PACKAGE_URL: `${srv.url}/nothing.tar.gz`, PACKAGE_DEST: tmpdir() });
    assert.equal(r.code, 3);
    assert.equal(srv.log.filter((l) => l.path === "/nothing.tar.gz").length, 1);
  });
});

describe("redirects", () => {
  it("follows redirects", async () => {
    const target = route({});
    const hop = route({ redirect: target.url });
    const dest = tmpdir();
    const r = await runDp({ PACKAGE_URL: hop.url, PACKAGE_DEST: dest });
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(snapshot(dest), expected);
  });

  it("a redirect loop is an error that says so, exit 3, not retried", async () => {
    srv.route("/loop-a", { redirect: `${srv.url}/loop-b` });
    srv.route("/loop-b", { redirect: `${srv.url}/loop-a` });
    const r = await runDp({ PACKAGE_URL: `${srv.url}/loop-a`, PACKAGE_DEST: tmpdir() });
    assert.equal(r.code, 3);
    assert.match(r.stderr, /redirect loop: .*loop-a -> .*loop-b -> .*loop-a/);
    assert.equal(srv.log.filter((l) => l.path === "/loop-a").length, 1);
    assert.equal(srv.log.filter((l) => l.path === "/loop-b").length, 1);
  });

  it("too many redirects is an error", async () => {
    for (let i = 0; i < 5; i++) srv.route(`/hop${i}`, { redirect: `${srv.url}/hop${i + 1}` });
    const r = await runDp({ PACKAGE_URL: `${srv.url}/hop0`, PACKAGE_DEST: tmpdir(), PACKAGE_MAX_REDIRECTS: "3" });
    assert.equal(r.code, 3);
    assert.match(r.stderr, /more than 3 redirects/);
  });
});

describe("auth", () => {
  it("user-info in the URL becomes basic auth and never reaches the logs", async () => {
    const r0 = route({ auth: `Basic ${Buffer.from("bob:hunter2").toString("base64")}` });
    const dest = tmpdir();
    const r = await runDp({ PACKAGE_URL: r0.url.replace("://", "://bob:hunter2@"), PACKAGE_DEST: dest });
    assert.equal(r.code, 0, r.stderr);
    assert.ok(!r.stderr.includes("hunter2"));
  });

  it("a bearer token file is read on every attempt (a rotated Secret is picked up)", async () => {
    const dir = tmpdir();
    const tokenFile = path.join(dir, "token");
    fs.writeFileSync(tokenFile, "tok-1\n");
    const r0 = route({ auth: "Bearer tok-1", dropAt: { 0: 300_000 } });
    const dest = tmpdir();
    const r = await runDp({ PACKAGE_URL: r0.url, PACKAGE_DEST: dest, PACKAGE_TOKEN_FILE: tokenFile });
    assert.equal(r.code, 0, r.stderr);
    const reqs = srv.log.filter((l) => l.path === r0.path);
    assert.ok(reqs.length >= 2 && reqs.every((l) => l.headers.authorization === "Bearer tok-1"));
    assert.ok(!r.stderr.includes("tok-1"));
  });

  it("basic credentials from a file, and a wrong password fails with a hint, exit 3", async () => {
    const dir = tmpdir();
    const f = path.join(dir, "basic");
    fs.writeFileSync(f, "bob:right\n");
    const r0 = route({ auth: `Basic ${Buffer.from("bob:right").toString("base64")}` });
    const ok = await runDp({ PACKAGE_URL: r0.url, PACKAGE_DEST: tmpdir(), PACKAGE_BASIC_AUTH_FILE: f });
    assert.equal(ok.code, 0, ok.stderr);
    fs.writeFileSync(f, "bob:wrong\n");
    const bad = await runDp({ PACKAGE_URL: r0.url, PACKAGE_DEST: tmpdir(), PACKAGE_BASIC_AUTH_FILE: f });
    assert.equal(bad.code, 3);
    assert.match(bad.stderr, /HTTP 401.*check the credentials/);
  });

  it("extra headers are sent", async () => {
    const r0 = route({});
    const r = await runDp({ PACKAGE_URL: r0.url, PACKAGE_DEST: tmpdir(), PACKAGE_HEADERS: "X-Team: blue\nX-Trace: 42" });
    assert.equal(r.code, 0, r.stderr);
    const l = srv.log.find((x) => x.path === r0.path)!;
    assert.equal(l.headers["x-team"], "blue");
    assert.equal(l.headers["x-trace"], "42");
  });

  it("curl gets credentials on stdin, never on its command line; wget is skipped for them", async () => {
    const dir = tmpdir();
    const tokenFile = path.join(dir, "token");
    fs.writeFileSync(tokenFile, "very-secret-token");
    const r0 = route({ auth: "Bearer very-secret-token", throttle: 2_000_000 });
    const watch = watchCommandLines();
    const r = await runDp({ PACKAGE_URL: r0.url, PACKAGE_DEST: tmpdir(), PACKAGE_TOKEN_FILE: tokenFile, PACKAGE_TRANSPORTS: "wget,curl" });
    const seen = await watch.stop();
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /wget skipped: the request carries credentials/);
    assert.ok(seen.some((c) => /(^|\/)curl -q -K - $/.test(c)), "curl ran");
    assert.ok(!seen.some((c) => c.includes("very-secret-token")), "token on a command line");
  });
});

describe("TLS and proxies", () => {
  const certs = makeCerts();
  let tlsSrv: TestServer;
  let mtlsSrv: TestServer;
  before(async () => {
    tlsSrv = await startServer({ key: certs.key, cert: certs.cert });
    tlsSrv.route("/pkg.tar.gz", { body: pkg });
    mtlsSrv = await startServer({ key: certs.key, cert: certs.cert, ca: certs.ca, requestCert: true });
    mtlsSrv.route("/pkg.tar.gz", { body: pkg });
  });
  after(async () => {
    await tlsSrv.close();
    await mtlsSrv.close();
  });

  it("an unknown CA is refused, exit 3", async () => {
    const r = await runDp({ PACKAGE_URL: `${tlsSrv.url}/pkg.tar.gz`, PACKAGE_DEST: tmpdir(), PACKAGE_RETRIES: "0" });
    assert.equal(r.code, 3);
    assert.match(r.stderr, /certificate/i);
  });

  for (const t of ["undici", "node", "curl", "wget"]) {
    it(`a private CA from PACKAGE_CA_FILE works (${t})`, async () => {
      const dest = tmpdir();
      const r = await runDp({ PACKAGE_URL: `${tlsSrv.url}/pkg.tar.gz`, PACKAGE_DEST: dest, PACKAGE_CA_FILE: certs.caFile, PACKAGE_TRANSPORTS: t });
      assert.equal(r.code, 0, r.stderr);
      assert.deepEqual(snapshot(dest), expected);
    });
  }

  it("NODE_EXTRA_CA_CERTS works too", async () => {
    const r = await runDp({ PACKAGE_URL: `${tlsSrv.url}/pkg.tar.gz`, PACKAGE_DEST: tmpdir(), NODE_EXTRA_CA_CERTS: certs.caFile });
    assert.equal(r.code, 0, r.stderr);
  });

  it("the insecure switch works and is logged loudly", async () => {
    const r = await runDp({ PACKAGE_URL: `${tlsSrv.url}/pkg.tar.gz`, PACKAGE_DEST: tmpdir(), PACKAGE_INSECURE: "true" });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /WARN .*TLS CERTIFICATE VERIFICATION IS OFF/);
  });

  for (const t of ["undici", "node", "curl"]) {
    it(`mutual TLS with a client certificate (${t}); without it the server refuses`, async () => {
      const base = { PACKAGE_URL: `${mtlsSrv.url}/pkg.tar.gz`, PACKAGE_CA_FILE: certs.caFile, PACKAGE_TRANSPORTS: t, PACKAGE_RETRIES: "0" };
      const ok = await runDp({ ...base, PACKAGE_DEST: tmpdir(), PACKAGE_CERT_FILE: certs.clientCertFile, PACKAGE_KEY_FILE: certs.clientKeyFile });
      assert.equal(ok.code, 0, ok.stderr);
      const bad = await runDp({ ...base, PACKAGE_DEST: tmpdir() });
      assert.equal(bad.code, 3);
    });
  }

  for (const t of ["undici", "node", "curl", "wget"]) {
    it(`HTTP_PROXY carries plain http, HTTPS_PROXY tunnels https with a private CA (${t})`, async () => {
      const proxy = await startProxy();
      try {
        const plain = route({});
        const env = { PACKAGE_TRANSPORTS: t, http_proxy: proxy.url, HTTPS_PROXY: proxy.url, PACKAGE_CA_FILE: certs.caFile };
        const r1 = await runDp({ ...env, PACKAGE_URL: plain.url, PACKAGE_DEST: tmpdir() });
        assert.equal(r1.code, 0, r1.stderr);
        const r2 = await runDp({ ...env, PACKAGE_URL: `${tlsSrv.url}/pkg.tar.gz`, PACKAGE_DEST: tmpdir() });
        assert.equal(r2.code, 0, r2.stderr);
        assert.ok(proxy.requests.some((q) => q.includes(plain.path) || q.startsWith(`CONNECT 127.0.0.1:${srv.port}`)), proxy.requests.join("\n"));
        assert.ok(proxy.requests.some((q) => q === `CONNECT 127.0.0.1:${tlsSrv.port}`), proxy.requests.join("\n"));
      } finally {
        await proxy.close();
      }
    });
  }

  it("NO_PROXY bypasses the proxy", async () => {
    const proxy = await startProxy();
    try {
      const r0 = route({});
      const r = await runDp({ PACKAGE_URL: r0.url, PACKAGE_DEST: tmpdir(), HTTP_PROXY: proxy.url, NO_PROXY: "localhost,127.0.0.0/8" });
      assert.equal(r.code, 0, r.stderr);
      assert.equal(proxy.requests.length, 0);
    } finally {
      await proxy.close();
    }
  });

  it("proxy credentials from the proxy URL are sent, and never logged", async () => {
    const auth = `Basic ${Buffer.from("px:pxpass").toString("base64")}`;
    const proxy = await startProxy(auth);
    try {
      const r0 = route({});
      for (const t of ["undici", "node", "curl"]) {
        const r = await runDp({ PACKAGE_URL: r0.url, PACKAGE_DEST: tmpdir(), HTTP_PROXY: proxy.url.replace("://", "://px:pxpass@"), PACKAGE_TRANSPORTS: t });
        assert.equal(r.code, 0, `${t}: ${r.stderr}`);
        assert.ok(!r.stderr.includes("pxpass"));
      }
    } finally {
      await proxy.close();
    }
  });
});
