// The image on a real engine: built from dist/rootfs/ on a stand-in base, run as UID 65532
// with a read-only root filesystem, extracting a package into a volume.

import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { docker, dockerMissing, standInBase } from "./helpers/docker.ts";
import { gzip, rawTar } from "./helpers/fixtures.ts";
import { exec, tmpdir } from "./helpers/run.ts";
import { startServer, type TestServer } from "./helpers/server.ts";

const IMAGE = "download-package:image-test";

describe("the image", { skip: dockerMissing() }, () => {
  let srv: TestServer;
  before(async () => {
    srv = await startServer();
    const base = standInBase();
    docker(["build", "-q", "-t", IMAGE, "--build-arg", `BASE_IMAGE=${base}`, "--build-arg", "VERSION=9.9.9", "--build-arg", "REVISION=abc123", "."]);
  });
  after(async () => {
    await srv.close();
    spawnSync("docker", ["rmi", "-f", IMAGE]);
  });

  it("runs as 65532 with the entrypoint and OCI labels", () => {
    const cfg = JSON.parse(docker(["image", "inspect", IMAGE, "--format", "{{json .Config}}"]));
    assert.equal(cfg.User, "65532:65532");
    assert.deepEqual(cfg.Entrypoint, ["/usr/local/bin/download-package"]);
    for (const l of ["version", "revision", "source", "created"]) assert.ok(`org.opencontainers.image.${l}` in cfg.Labels, l);
    assert.equal(cfg.Labels["org.opencontainers.image.version"], "9.9.9");
  });

  it("adds exactly one layer, the rootfs, to the base", () => {
    const layers = (ref: string) => JSON.parse(docker(["image", "inspect", ref, "--format", "{{json .RootFS.Layers}}"])).length;
    assert.equal(layers(IMAGE), layers(standInBase()) + 1);
  });

  it("extracts a package into a volume as UID 65532 with --read-only and no capabilities", async () => {
    srv.route("/pkg.tar.gz", { body: gzip(rawTar([{ name: "web/index.html", content: "<h1>hi</h1>\n" }, { name: "bin/run", content: "#!/bin/sh\n", mode: 0o755 }])) });
    const vol = tmpdir("dp-vol-");
    fs.chmodSync(vol, 0o777);
    const out = await exec("docker", ["run", "--rm", "--user", "65532:65532", "--read-only", "--cap-drop", "ALL", "--network", "host", "-v", `${vol}:/shared-data`, "-e", `PACKAGE_URL=${srv.url}/pkg.tar.gz`, IMAGE]);
    assert.equal(out.status, 0, out.stderr);
    const dest = path.join(vol, "diff-var-files");
    assert.equal(fs.readFileSync(path.join(dest, "web/index.html"), "utf8"), "<h1>hi</h1>\n");
    assert.equal(fs.statSync(path.join(dest, "bin/run")).mode & 0o777, 0o755);
    assert.equal(fs.statSync(path.join(dest, "web/index.html")).uid, 65532);
  });

  it("a failing package exits non-zero with the reason in the log", async () => {
    const vol = tmpdir("dp-vol-");
    fs.chmodSync(vol, 0o777);
    const out = await exec("docker", ["run", "--rm", "--read-only", "--network", "host", "-v", `${vol}:/shared-data`, "-e", `PACKAGE_URL=${srv.url}/absent.tar.gz`, IMAGE]);
    assert.equal(out.status, 3);
    assert.match(out.stderr, /HTTP 404/);
  });
});
