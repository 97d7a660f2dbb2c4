// A Pod, simulated on the real engine: the built image as the "init" container fills a
// volume (UID 65532, read-only root, no capabilities), then a "main" container mounts it
// read-only and reads the files. A failing package leaves its reason in the file mounted
// at /dev/termination-log, as kubelet would show in `kubectl describe pod`.

import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import crypto from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { docker, dockerMissing, standInBase } from "./helpers/docker.ts";
import { gzip, rawTar } from "./helpers/fixtures.ts";
import { exec, tmpdir } from "./helpers/run.ts";
import { startServer, type TestServer } from "./helpers/server.ts";

const IMAGE = "download-package:pod-test";

describe("Pod simulation", { skip: dockerMissing() }, () => {
  let srv: TestServer;
  let volume: string;
  const pkg = gzip(rawTar([
    { name: "site/", type: "5", mode: 0o755 },
    { name: "site/index.html", content: "<h1>from the package</h1>\n" },
    { name: "bin/start.sh", content: "#!/bin/sh\necho start\n", mode: 0o755 },
  ]));
  const sha = crypto.createHash("sha256").update(pkg).digest("hex");

  before(async () => {
    srv = await startServer();
    srv.route("/site.tar.gz", { body: pkg });
    docker(["build", "-q", "-t", IMAGE, "--build-arg", `BASE_IMAGE=${standInBase()}`, "."]);
    volume = `dp-pod-${process.pid}`;
    docker(["volume", "create", volume]);
    // kubelet creates an emptyDir world-writable; a fresh Docker volume is root's 0755.
    docker(["run", "--rm", "-v", `${volume}:/shared-data`, "--entrypoint", "/bin/sh", standInBase(), "-c", "chmod 0777 /shared-data"]);
  });
  after(async () => {
    await srv.close();
    spawnSync("docker", ["volume", "rm", "-f", volume]);
    spawnSync("docker", ["rmi", "-f", IMAGE]);
  });

  const initContainer = (env: Record<string, string>, extra: string[] = []) =>
    exec("docker", ["run", "--rm", "--user", "65532:65532", "--read-only", "--cap-drop", "ALL", "--security-opt", "no-new-privileges", "--network", "host", "-v", `${volume}:/shared-data`, ...Object.entries(env).flatMap(([k, v]) => ["-e", `${k}=${v}`]), ...extra, IMAGE]);

  it("init fills the volume; main mounts it read-only as another user and sees the whole package", async () => {
    const init = await initContainer({ PACKAGE_URL: `${srv.url}/site.tar.gz`, PACKAGE_SHA256: sha });
    assert.equal(init.status, 0, init.stderr);
    assert.match(init.stderr, /installed .*verified=true/);
    const main = await exec("docker", ["run", "--rm", "--user", "10001:10001", "--read-only", "--network", "none", "-v", `${volume}:/shared-data:ro`, "--entrypoint", "/bin/sh", standInBase(), "-c",
      "cat /shared-data/diff-var-files/site/index.html && test -x /shared-data/diff-var-files/bin/start.sh && ! touch /shared-data/diff-var-files/x 2>/dev/null && echo read-only-ok"]);
    assert.equal(main.status, 0, main.stderr);
    assert.equal(main.stdout, "<h1>from the package</h1>\nread-only-ok\n");
  });

  it("a restarted init container finds the complete install and does nothing", async () => {
    const again = await initContainer({ PACKAGE_URL: `${srv.url}/site.tar.gz`, PACKAGE_SHA256: sha });
    assert.equal(again.status, 0, again.stderr);
    assert.match(again.stderr, /already installed, nothing to do/);
  });

  it("a failing package: non-zero exit, the reason in /dev/termination-log, the previous content intact", async () => {
    const log = path.join(tmpdir(), "termination-log");
    fs.writeFileSync(log, "");
    fs.chmodSync(log, 0o666);
    const r = await initContainer({ PACKAGE_URL: `${srv.url}/gone.tar.gz` }, ["-v", `${log}:/dev/termination-log`]);
    assert.equal(r.status, 3);
    assert.match(fs.readFileSync(log, "utf8"), /^HTTP 404 from http:\/\/127\.0\.0\.1:\d+\/gone\.tar\.gz \(hint: the package is not at that URL; check PACKAGE_URL\)\n$/);
    const main = await exec("docker", ["run", "--rm", "-v", `${volume}:/shared-data:ro`, "--entrypoint", "/bin/cat", standInBase(), "/shared-data/diff-var-files/site/index.html"]);
    assert.equal(main.stdout, "<h1>from the package</h1>\n");
  });
});
