// The runtime (issue 15, items 5 and 8): auto-detection picks what the kubelet uses
// (containerd's own socket, then Docker; never Docker's private containerd) and says which;
// a runtime that cannot be reached fails the whole run with exit 8, for every command.

import assert from "node:assert/strict";
import fs from "node:fs";
import { after, before, describe, it } from "node:test";
import { docker, dockerMissing } from "./helpers/docker.ts";
import { buildImage, CONTAINERD, dp, pushTo, rmi } from "./helpers/images.ts";
import { startRegistry, type Registry } from "./helpers/registry.ts";
import { tmpdir } from "./helpers/run.ts";

const A = `dp-rt-a:r${process.pid}`;

describe("runtime detection and reachability", { skip: dockerMissing() }, () => {
  let mirror: Registry;
  let out: string;
  let id: string;

  before(async () => {
    mirror = await startRegistry();
    id = buildImage(A);
    pushTo(mirror.host, A);
    rmi(A);
    out = tmpdir("dp-rt-out-");
    const r = await dp(["images", "export", "--out", out, "--image", A], { BASE_IMAGE_MIRRORS: mirror.host });
    assert.equal(r.status, 0, r.stdout + r.stderr);
    rmi(A);
  });
  after(async () => {
    await mirror.close();
    rmi(A);
  });

  it("auto on a Docker host (no /run/containerd/containerd.sock) picks Docker, says why, and Docker sees the image", { skip: fs.existsSync("/run/containerd/containerd.sock") && "this host has containerd's own socket" }, async () => {
    const r = await dp(["images", "import", "--from", out]);
    assert.equal(r.status, 0, r.stdout + r.stderr);
    assert.match(r.stdout, /^runtime: docker \(\/var\/run\/docker\.sock\) \(auto: no containerd socket/m);
    assert.doesNotMatch(r.stdout, /\/var\/run\/docker\/containerd/);
    assert.equal(JSON.parse(docker(["image", "inspect", A]))[0].Id, id);
  });

  const unreachable: [string, string[], Record<string, string>, RegExp][] = [
    ["import: containerd socket missing", ["images", "import", "--from", "OUT", "--runtime", "containerd", "--address", "/nonexistent/containerd.sock"], {}, /containerd at \/nonexistent\/containerd\.sock does not answer/],
    ["import: ctr missing", ["images", "import", "--from", "OUT", "--runtime", "containerd", "--address", CONTAINERD, "--ctr", "/nonexistent/ctr"], {}, /cannot run \/nonexistent\/ctr/],
    ["import: Docker socket missing", ["images", "import", "--from", "OUT", "--runtime", "docker", "--address", "/nonexistent/docker.sock"], {}, /Docker at \/nonexistent\/docker\.sock does not answer/],
    ["export: no Docker engine", ["images", "export", "--out", "NEW", "--image", A], { DOCKER_HOST: "unix:///nonexistent/docker.sock" }, /Docker does not answer/],
    ["push: no Docker engine", ["images", "push", "--from", "OUT", "--registry", "127.0.0.1:1"], { DOCKER_HOST: "unix:///nonexistent/docker.sock" }, /Docker does not answer/],
  ];
  for (const [what, args, env, message] of unreachable) {
    it(`${what}: exit 8, one line, nothing reported as done`, async () => {
      const r = await dp(args.map((a) => (a === "OUT" ? out : a === "NEW" ? tmpdir("dp-rt-new-") : a)), env);
      assert.equal(r.status, 8, r.stdout + r.stderr);
      assert.match(r.stderr, message);
      assert.match(r.stderr, /hint=/);
      assert.doesNotMatch(r.stdout, /imported|exported|pushed/);
    });
  }
});
