// Shared by the offline-image suites: distinct small images from the stand-in base, a
// containerd namespace of the test's own, and the program run as a user would.

import { spawnSync } from "node:child_process";
import { docker, standInBase } from "./docker.ts";
import { cleanEnv, command, exec } from "./run.ts";

/** Docker's own containerd: tests use it through ctr, each suite in a namespace of its own. */
export const CONTAINERD = "/var/run/docker/containerd/containerd.sock";

export function ctrIn(namespace: string) {
  return (...args: string[]) => spawnSync("ctr", ["--address", CONTAINERD, "-n", namespace, ...args], { encoding: "utf8" });
}

/** Remove every image of a namespace, then the namespace. */
export function dropNamespace(namespace: string) {
  const ctr = ctrIn(namespace);
  const names = ctr("images", "ls", "-q").stdout.split("\n").filter(Boolean);
  // --sync: content and snapshots go now, so the namespace can go too.
  if (names.length) ctr("images", "rm", "--sync", ...names);
  spawnSync("ctr", ["--address", CONTAINERD, "namespaces", "rm", namespace]);
}

/** Build an image named REF from the stand-in base, distinct by a label. */
export function buildImage(ref: string, label = ref): string {
  docker(["build", "-q", "-t", ref, "-"], { input: `FROM ${standInBase()}\nLABEL which="${label}"\n` });
  return JSON.parse(docker(["image", "inspect", ref]))[0].Id as string;
}

/** Push REF to REGISTRY/<path>, as a mirror of Docker Hub holds it; returns the manifest digest. Local names are removed. */
export function pushTo(registryHost: string, ref: string, path = `library/${ref}`): string {
  const remote = `${registryHost}/${path}`;
  docker(["tag", ref, remote]);
  const out = docker(["push", remote]);
  docker(["rmi", remote]);
  return /digest: (sha256:[0-9a-f]{64})/.exec(out)![1];
}

export async function dp(args: string[], env: Record<string, string> = {}) {
  const [cmd, argv] = command(args);
  return exec(cmd, argv, { env: cleanEnv(env) });
}

export const rmi = (...refs: string[]) => spawnSync("docker", ["rmi", "-f", ...refs], { stdio: "ignore" });

export const fileOf = (name: string) => `${name.replace(":", "_")}.tar.gz`;
