// Signals (issue 15, item 7): images commands stop within seconds of SIGTERM/SIGINT, remove
// their partial files, print the table so far and exit 143/130.

import assert from "node:assert/strict";
import fs from "node:fs";
import net from "node:net";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { docker, dockerMissing, standInBase } from "./helpers/docker.ts";
import { CONTAINERD, ctrIn, dropNamespace, pushTo, rmi } from "./helpers/images.ts";
import { startRegistry, type Registry } from "./helpers/registry.ts";
import { runDp, tmpdir } from "./helpers/run.ts";

const BIG = `dp-sig-big:s${process.pid}`;
const NS = `dp-sig-${process.pid}`;

describe("signals stop images commands within seconds", { skip: dockerMissing() }, () => {
  let mirror: Registry;
  let stall: net.Server;
  let stallHost: string;
  const sockets: net.Socket[] = [];

  before(async () => {
    mirror = await startRegistry();
    // An image big enough that docker save | gzip takes a few seconds: 48 MiB of random bytes.
    const ctx = tmpdir("dp-sig-ctx-");
    fs.writeFileSync(path.join(ctx, "blob"), Buffer.alloc(48 << 20).map(() => Math.floor(Math.random() * 256)));
    fs.writeFileSync(path.join(ctx, "Dockerfile"), `FROM ${standInBase()}\nCOPY blob /blob\n`);
    docker(["build", "-q", "-t", BIG, ctx]);
    pushTo(mirror.host, BIG);
    // A "mirror" that accepts connections and never answers: docker pull waits on it.
    stall = net.createServer((s) => sockets.push(s));
    await new Promise<void>((r) => stall.listen(0, "127.0.0.1", r));
    stallHost = `127.0.0.1:${(stall.address() as net.AddressInfo).port}`;
  });
  after(async () => {
    for (const s of sockets) s.destroy();
    stall.close();
    await mirror.close();
    rmi(BIG);
    dropNamespace(NS);
  });

  for (const [sig, code] of [["SIGTERM", 143], ["SIGINT", 130]] as const) {
    it(`${sig} during a pull that hangs: exit ${code} within seconds, the table printed`, async () => {
      const out = tmpdir("dp-sig-out-");
      let sent = 0;
      const r = await runDp({ BASE_IMAGE_MIRRORS: stallHost, MIRROR_TIMEOUT: "120" }, ["images", "export", "--out", out, "--image", "dp-sig-absent:1"], {
        onSpawn: (pid) => setTimeout(() => ((sent = Date.now()), process.kill(pid, sig)), 2000),
        timeoutMs: 60_000,
      });
      assert.equal(r.code, code, r.stdout + r.stderr);
      assert.ok(Date.now() - sent < 5000, `stopped ${Date.now() - sent} ms after the signal`);
      assert.match(r.stderr, new RegExp(`stopped by ${sig}`));
      assert.match(r.stdout, /^IMAGE\s+FILE\s+RESULT\s+DETAIL/);
    });
  }

  it("SIGTERM while an archive is being written: exit 143 and no partial file left", async () => {
    const out = tmpdir("dp-sig-save-");
    let pid = 0;
    const poll = setInterval(() => {
      if (pid && fs.readdirSync(out).some((f) => f.endsWith(".tmp"))) {
        clearInterval(poll);
        process.kill(pid, "SIGTERM");
      }
    }, 20);
    const r = await runDp({ BASE_IMAGE_MIRRORS: mirror.host }, ["images", "export", "--out", out, "--image", BIG], { onSpawn: (p) => (pid = p), timeoutMs: 120_000 });
    clearInterval(poll);
    assert.equal(r.code, 143, r.stdout + r.stderr);
    assert.deepEqual(fs.readdirSync(out), [], "no .tmp, no half archive");
  });

  it("SIGTERM during an import into containerd: exit 143 within seconds, no temporary image name left behind", async () => {
    const out = tmpdir("dp-sig-imp-");
    const exp = await runDp({ BASE_IMAGE_MIRRORS: mirror.host }, ["images", "export", "--out", out, "--image", BIG], { timeoutMs: 120_000 });
    assert.equal(exp.code, 0, exp.stdout + exp.stderr);
    const ctr = ctrIn(NS);
    let sent = 0;
    let pid = 0;
    // Stop it once ctr is importing (its temporary index name exists), or after 3 s at the latest.
    const started = Date.now();
    const poll = setInterval(() => {
      if (!pid || sent) return;
      if (ctr("images", "ls", "-q").stdout.includes("download-package-import-") || Date.now() - started > 3000) {
        sent = Date.now();
        process.kill(pid, "SIGTERM");
      }
    }, 50);
    const r = await runDp({}, ["images", "import", "--from", out, "--runtime", "containerd", "--address", CONTAINERD, "--namespace", NS], { onSpawn: (p) => (pid = p), timeoutMs: 60_000 });
    clearInterval(poll);
    assert.equal(r.code, 143, r.stdout + r.stderr);
    assert.ok(Date.now() - sent < 5000, `stopped ${Date.now() - sent} ms after the signal`);
    assert.doesNotMatch(ctr("images", "ls", "-q").stdout, /download-package-import-/);
  });
});
