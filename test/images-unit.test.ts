// Pure logic of the offline-image commands: file names, runtime choice, SHA256SUMS, pull sources.

import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { fileNameFor } from "../src/images/filename.ts";
import { chooseRuntime } from "../src/images/runtime.ts";
import { parseSums } from "../src/images/store.ts";
import { sources } from "../src/images/export.ts";
import { targetFor } from "../src/images/push.ts";

describe("file names (item 1)", () => {
  it("keep the familiar short forms", () => {
    assert.equal(fileNameFor("nginx:1.25"), "nginx_1.25.tar.gz");
    assert.equal(fileNameFor("quay.io/org/backend:1.10"), "quay.io_org_backend_1.10.tar.gz");
    assert.equal(fileNameFor("bitnami/redis:7"), "bitnami_redis_7.tar.gz");
    assert.equal(fileNameFor("reg:5000/x:1"), "reg_-5000_x_1.tar.gz");
  });
  it("are one-to-one: the pairs that used to share a file get two", () => {
    const pairs = [
      ["a_b:1", "a/b:1"],
      ["x:1_2", "x_1:2"],
      ["reg:5000/x:1", "reg_5000/x:1"],
      ["a:5/b:latest", "a/5/b"],
      ["docker.io/a.b/c:1", "a.b/c:1"],
      ["localhost/x:1", "docker.io/localhost/x:1"],
      ["docker.io/library/a/b:1", "a/b:1"],
      ["x:sha256-" + "a".repeat(64), "x@sha256:" + "a".repeat(64)],
    ];
    for (const [p, q] of pairs) assert.notEqual(fileNameFor(p), fileNameFor(q), `${p} vs ${q}`);
  });
  it("stay under 255 bytes", () => {
    const long = `registry.example.internal/${"deep/".repeat(40)}image:${"t".repeat(120)}@sha256:${"b".repeat(64)}`;
    assert.ok(Buffer.byteLength(fileNameFor(long)) <= 255);
    assert.notEqual(fileNameFor(long), fileNameFor(long.replace("image", "imagf")));
  });
});

describe("runtime choice (item 5)", () => {
  const has = (...present: string[]) => (p: string) => present.includes(p);
  it("containerd's own socket first, then K3s', then Docker; never Docker's private containerd", () => {
    assert.equal(chooseRuntime("auto", undefined, has("/run/containerd/containerd.sock", "/var/run/docker.sock"))?.address, "/run/containerd/containerd.sock");
    assert.equal(chooseRuntime("auto", undefined, has("/run/k3s/containerd/containerd.sock"))?.kind, "containerd");
    const d = chooseRuntime("auto", undefined, has("/var/run/docker/containerd/containerd.sock", "/var/run/docker.sock"));
    assert.deepEqual([d?.kind, d?.address], ["docker", "/var/run/docker.sock"]);
    assert.match(d!.why, /no containerd socket/);
    assert.equal(chooseRuntime("auto", undefined, has("/var/run/docker/containerd/containerd.sock")), undefined);
  });
  it("cri-dockerd present: the kubelet uses Docker, even beside the system containerd Docker runs on", () => {
    const d = chooseRuntime("auto", undefined, has("/run/cri-dockerd.sock", "/run/containerd/containerd.sock", "/var/run/docker.sock"));
    assert.deepEqual([d?.kind, d?.address], ["docker", "/var/run/docker.sock"]);
    assert.match(d!.why, /cri-dockerd/);
  });
  it("--runtime docker defaults to Docker's socket; --address alone is judged by its name", () => {
    assert.equal(chooseRuntime("docker", undefined, has())?.address, "/var/run/docker.sock");
    assert.equal(chooseRuntime("auto", "/host/run/docker.sock", has())?.kind, "docker");
    assert.equal(chooseRuntime("auto", "/run/runtime.sock", has())?.kind, "containerd");
  });
});

describe("SHA256SUMS (item 11)", () => {
  it("reads what sha256sum -c accepts: upper-case hex, binary mode", () => {
    const h = "AB".repeat(32);
    const sums = parseSums(`${h}  a.tar.gz\n${"cd".repeat(32)} *b.tar.gz\n`);
    assert.equal(sums.get("a.tar.gz"), h.toLowerCase());
    assert.equal(sums.get("b.tar.gz"), "cd".repeat(32));
  });
});

describe("pull sources (item 4)", () => {
  it("mirrors in order, then the image's own registry; a mirror equal to it is tried once", () => {
    assert.deepEqual(sources("nginx:1.25", ["m1:5000", "m2.internal"]).map((s) => s.ref), ["m1:5000/library/nginx:1.25", "m2.internal/library/nginx:1.25", "docker.io/library/nginx:1.25"]);
    assert.deepEqual(sources("reg.local:5000/app:1", ["reg.local:5000"]).map((s) => s.ref), ["reg.local:5000/app:1"]);
  });
  it("push targets keep the path; a digest-only reference gets a tag from its digest", () => {
    assert.equal(targetFor("r:5000/", "nginx:1.25"), "r:5000/library/nginx:1.25");
    assert.equal(targetFor("r:5000", `x@sha256:${"c".repeat(64)}`), `r:5000/library/x:sha256-${"c".repeat(64)}`);
  });
});
