// dist/rootfs/ alone runs the program: a chroot that holds only that folder's files and
// /proc. This is the proof that the image needs nothing from its base (Alpine or scratch).

import assert from "node:assert/strict";
import { execFileSync, spawnSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { gzip, rawTar } from "./helpers/fixtures.ts";
import { exec, ROOT, tmpdir } from "./helpers/run.ts";
import { startServer, type TestServer } from "./helpers/server.ts";

const rootfs = path.join(ROOT, "dist/rootfs");
const notRoot = process.getuid?.() !== 0 ? "chroot needs root" : false;

describe("dist/rootfs in an empty root", { skip: notRoot }, () => {
  let srv: TestServer;
  let jail: string;
  before(async () => {
    srv = await startServer();
    jail = tmpdir("dp-chroot-");
    execFileSync("cp", ["-a", `${rootfs}/.`, jail]);
    fs.mkdirSync(path.join(jail, "proc"));
    execFileSync("mount", ["-t", "proc", "proc", path.join(jail, "proc")]);
  });
  after(async () => {
    spawnSync("umount", [path.join(jail, "proc")]);
    await srv.close();
  });

  it("holds only the executable and, for the fallback packager, the loader and its libraries", () => {
    const files = (fs.readdirSync(rootfs, { recursive: true }) as string[]).filter((f) => fs.statSync(path.join(rootfs, f)).isFile()).sort();
    assert.ok(files.includes("usr/local/bin/download-package"));
    for (const f of files) assert.match(f, /^(usr\/local\/bin\/download-package|lib64\/ld-linux-x86-64\.so\.2|lib\/x86_64-linux-gnu\/lib[\w+.-]+\.so(\.\d+)*)$/, f);
  });

  it("runs --version with nothing else in the root", () => {
    const out = execFileSync("/usr/sbin/chroot", [jail, "/usr/local/bin/download-package", "--version"], { encoding: "utf8", env: {} });
    assert.match(out, /^download-package \d+\.\d+\.\d+ .*node 24\./);
  });

  it("downloads and extracts a package with nothing else in the root", async () => {
    srv.route("/pkg.tar.gz", { body: gzip(rawTar([{ name: "conf/app.yaml", content: "ok: true\n" }])) });
    const r = await exec("/usr/sbin/chroot", [jail, "/usr/local/bin/download-package"], { env: { PACKAGE_URL: `${srv.url}/pkg.tar.gz`, PACKAGE_DEST: "/out" } });
    assert.equal(r.status, 0, r.stderr);
    assert.equal(fs.readFileSync(path.join(jail, "out/conf/app.yaml"), "utf8"), "ok: true\n");
  });
});
