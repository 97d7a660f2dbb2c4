// Every transport that claims proxy support really goes through the proxy (issue #13 item
// 12): the origin's name resolves only inside the test proxy, so a transport that connects
// on its own (as the node transport did after CONNECT) cannot reach it.

import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { makeTree, tarOf } from "./helpers/fixtures.ts";
import { runDp, snapshot } from "./helpers/run.ts";
import { ONLY_PROXY_HOST, startProxy, startServer, type TestServer } from "./helpers/server.ts";
import { removeOnExit, scratchDir, transportCases } from "./helpers/transports.ts";

const tree = removeOnExit(makeTree({ "share/data.txt": { content: "proxied\n".repeat(30_000), mode: 0o644 } }));
const pkg = tarOf(tree);
const expected = snapshot(tree);

/** A CA and a server certificate for the name only the proxy resolves. */
function certFor(host: string) {
  const dir = scratchDir("dp-proxy-certs-");
  const run = (args: string[]) => execFileSync("openssl", args, { cwd: dir, stdio: ["ignore", "ignore", "pipe"] });
  run(["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.pem", "-days", "2", "-subj", "/CN=dp proxy test CA"]);
  fs.writeFileSync(path.join(dir, "san.ext"), `subjectAltName=DNS:${host}\nbasicConstraints=CA:FALSE\n`);
  run(["req", "-newkey", "rsa:2048", "-nodes", "-keyout", "server.key", "-out", "server.csr", "-subj", `/CN=${host}`]);
  run(["x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial", "-out", "server.pem", "-days", "2", "-extfile", "san.ext"]);
  const read = (f: string) => fs.readFileSync(path.join(dir, f), "utf8");
  return { caFile: path.join(dir, "ca.pem"), key: read("server.key"), cert: read("server.pem") };
}

const certs = certFor(ONLY_PROXY_HOST);
let plain: TestServer;
let secure: TestServer;
let proxy: Awaited<ReturnType<typeof startProxy>>;
before(async () => {
  plain = await startServer();
  secure = await startServer({ key: certs.key, cert: certs.cert });
  proxy = await startProxy();
  plain.route("/p.tar", { body: pkg });
  secure.route("/p.tar", { body: pkg });
});
after(async () => {
  await plain.close();
  await secure.close();
  await proxy.close();
});

describe(`through the proxy to a host only the proxy can resolve (${ONLY_PROXY_HOST})`, () => {
  for (const t of transportCases()) {
    it(`plain http through HTTP_PROXY (${t.label})`, async () => {
      const dest = scratchDir();
      const before = proxy.requests.length;
      const r = await runDp({ ...t.env, PACKAGE_URL: `http://${ONLY_PROXY_HOST}:${plain.port}/p.tar`, PACKAGE_DEST: dest, HTTP_PROXY: proxy.url, PACKAGE_RETRIES: "0" });
      assert.equal(r.code, 0, r.stderr);
      assert.deepEqual(snapshot(dest), expected);
      assert.ok(proxy.requests.slice(before).some((q) => q.includes(`${ONLY_PROXY_HOST}:${plain.port}`)), proxy.requests.join("\n"));
    });

    if (t.label === "wget-busybox") continue; // busybox wget is used for http:// only (it does not verify certificates)
    it(`https tunnelled with CONNECT through HTTPS_PROXY, the origin's certificate checked (${t.label})`, async () => {
      const dest = scratchDir();
      const before = proxy.requests.length;
      const r = await runDp({ ...t.env, PACKAGE_URL: `https://${ONLY_PROXY_HOST}:${secure.port}/p.tar`, PACKAGE_DEST: dest, HTTPS_PROXY: proxy.url, PACKAGE_CA_FILE: certs.caFile, PACKAGE_RETRIES: "0" });
      assert.equal(r.code, 0, r.stderr);
      assert.deepEqual(snapshot(dest), expected);
      assert.ok(proxy.requests.slice(before).includes(`CONNECT ${ONLY_PROXY_HOST}:${secure.port}`), proxy.requests.join("\n"));
    });
  }

  it("busybox wget is not used for https, with the reason in one line", async (ctx) => {
    const bb = transportCases().find((c) => c.label === "wget-busybox");
    if (!bb) return ctx.skip("no /bin/busybox");
    const r = await runDp({ ...bb.env, PACKAGE_URL: `https://${ONLY_PROXY_HOST}:${secure.port}/p.tar`, PACKAGE_DEST: scratchDir(), HTTPS_PROXY: proxy.url, PACKAGE_CA_FILE: certs.caFile });
    assert.equal(r.code, 3);
    assert.equal((r.stderr.match(/wget skipped: busybox wget does not verify TLS certificates/g) ?? []).length, 1, r.stderr);
  });
});
