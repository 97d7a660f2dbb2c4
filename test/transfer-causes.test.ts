// The final line names the root cause (issue #13 item 13): refused, unknown host, untrusted
// certificate, unreachable proxy, timeout, HTTP status — with any one transport forced (GNU
// and busybox wget included) and with the whole fallback chain, never the last fallback's
// "wget failed (exit 4): no message".

import assert from "node:assert/strict";
import { spawn, type ChildProcess } from "node:child_process";
import net from "node:net";
import { after, before, describe, it } from "node:test";
import { makeCerts, makeTree, tarOf } from "./helpers/fixtures.ts";
import { runDp } from "./helpers/run.ts";
import { startProxy, startServer, type TestServer } from "./helpers/server.ts";
import { removeOnExit, scratchDir, transportCases, type TransportCase } from "./helpers/transports.ts";

const pkg = tarOf(removeOnExit(makeTree({ "a.txt": { content: "a\n", mode: 0o644 } })));
const certs = makeCerts();
removeOnExit(certs.dir);
let srv: TestServer;
let tlsSrv: TestServer;
let closed: number;
let holder: ChildProcess;
let hanging: number;

async function closedPort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((r) => s.listen(0, "127.0.0.1", r));
  const port = (s.address() as net.AddressInfo).port;
  await new Promise((r) => s.close(r));
  return port;
}

before(async () => {
  srv = await startServer();
  srv.route("/p.tar", { body: pkg });
  tlsSrv = await startServer({ key: certs.key, cert: certs.cert });
  tlsSrv.route("/p.tar", { body: pkg });
  closed = await closedPort();
  // A listening socket whose accept queue is full: a connect to it hangs (see network.test.ts).
  holder = spawn("python3", ["-c", "import socket,time\ns=socket.socket(); s.bind(('127.0.0.1',0)); s.listen(0)\nc=socket.socket(); c.connect(s.getsockname())\nprint(s.getsockname()[1], flush=True)\ntime.sleep(600)"], { stdio: ["ignore", "pipe", "inherit"] });
  hanging = Number(await new Promise<string>((resolve) => holder.stdout!.once("data", (d) => resolve(String(d).trim()))));
});
after(async () => {
  holder.kill();
  await srv.close();
  await tlsSrv.close();
});

interface CauseCase {
  cause: string;
  env: () => Record<string, string>;
  /** The final line: what failed, and the hint. */
  line: RegExp;
  hint: RegExp;
  /** Transports for which the case does not apply (with why). */
  not?: Record<string, string>;
}

const causes: CauseCase[] = [
  { cause: "connection refused", env: () => ({ PACKAGE_URL: `http://127.0.0.1:${closed}/p.tar` }), line: /connection refused/i, hint: /nothing accepts connections at 127\.0\.0\.1:\d+/ },
  { cause: "unknown host", env: () => ({ PACKAGE_URL: "http://no-such-host.invalid/p.tar" }), line: /unknown host/i, hint: /no-such-host\.invalid does not resolve/ },
  { cause: "untrusted certificate", env: () => ({ PACKAGE_URL: `${tlsSrv.url}/p.tar` }), line: /untrusted certificate/i, hint: /PACKAGE_CA_FILE/, not: { "wget-busybox": "busybox wget is used for http:// only" } },
  { cause: "unreachable proxy", env: () => ({ PACKAGE_URL: `${srv.url}/p.tar`, HTTP_PROXY: `http://127.0.0.1:${closed}` }), line: /proxy failure/i, hint: /the proxy 127\.0\.0\.1:\d+ could not be used/ },
  { cause: "timeout", env: () => ({ PACKAGE_URL: `http://127.0.0.1:${hanging}/p.tar`, PACKAGE_CONNECT_TIMEOUT: "1s", PACKAGE_IDLE_TIMEOUT: "2s" }), line: /timed out|stalled/i, hint: /PACKAGE_CONNECT_TIMEOUT|PACKAGE_IDLE_TIMEOUT/ },
  { cause: "HTTP status", env: () => ({ PACKAGE_URL: `${srv.url}/absent.tar` }), line: /HTTP 404/, hint: /not at that URL/ },
];

const finalLine = (stderr: string) => stderr.trim().split("\n").filter((l) => / ERROR /.test(l)).pop() ?? "";

const chain: TransportCase = { label: "fallback chain", name: "all", env: { PACKAGE_TRANSPORTS: "undici,node,curl,wget" }, resumes: true };

for (const t of [...transportCases(), chain]) {
  describe(`root cause on the final line (${t.label})`, () => {
    for (const c of causes) {
      if (c.not?.[t.label]) continue;
      it(c.cause, async () => {
        const r = await runDp({ ...t.env, ...c.env(), PACKAGE_DEST: scratchDir(), PACKAGE_RETRIES: "0" });
        assert.equal(r.code, 3, r.stderr);
        const line = finalLine(r.stderr);
        assert.match(line, c.line, r.stderr);
        assert.match(line, c.hint, line);
        assert.doesNotMatch(line, /no message/);
      });
    }
  });
}

describe("a proxy that refuses (407 without its credentials)", () => {
  let proxy: Awaited<ReturnType<typeof startProxy>>;
  before(async () => (proxy = await startProxy(`Basic ${Buffer.from("px:right").toString("base64")}`)));
  after(() => proxy.close());
  for (const t of [...transportCases(), chain]) {
    for (const scheme of ["http", "https"] as const) {
      if (scheme === "https" && t.label === "wget-busybox") continue;
      it(`${scheme} (${t.label})`, async () => {
        const url = scheme === "http" ? `${srv.url}/p.tar` : `${tlsSrv.url}/p.tar`;
        const r = await runDp({ ...t.env, PACKAGE_URL: url, HTTP_PROXY: proxy.url, HTTPS_PROXY: proxy.url, PACKAGE_CA_FILE: certs.caFile, PACKAGE_DEST: scratchDir(), PACKAGE_RETRIES: "0" });
        assert.equal(r.code, 3, r.stderr);
        const line = finalLine(r.stderr);
        assert.match(line, /proxy failure/i, r.stderr);
        assert.match(line, /the proxy 127\.0\.0\.1:\d+ could not be used/);
      });
    }
  }
});

describe("the total deadline keeps the root cause", () => {
  it("a deadline that cuts failing retries says what the attempts failed with", async () => {
    const r = await runDp({ PACKAGE_URL: `http://127.0.0.1:${closed}/p.tar`, PACKAGE_DEST: scratchDir(), PACKAGE_RETRIES: "1000", PACKAGE_TIMEOUT: "2s" });
    assert.equal(r.code, 3);
    const line = finalLine(r.stderr);
    assert.match(line, /total deadline of 2s exceeded.*connection refused/);
    assert.match(line, /hint="nothing accepts connections/);
  });
});
