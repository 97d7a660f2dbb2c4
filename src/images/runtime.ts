// The two places images can go on a node: containerd (through `ctr`, the node's own
// binary) or Docker (through its Engine API on the socket: no docker CLI needed). Both answer
// the same question, "which image ID does this reference name here?", so import can compare
// what the runtime holds with what was exported, before and after loading.

import fs from "node:fs";
import http from "node:http";
import type { Readable } from "node:stream";
import { createGunzip } from "node:zlib";
import { AppError, ExitCode } from "../errors.ts";
import { lastLine } from "../util/error-line.ts";
import { runProcess as run } from "../util/process.ts";
import { regularStream } from "./store.ts";

export interface Runtime {
  name: string;
  /** Throws RuntimeUnreachable when the runtime cannot be used at all. */
  ping(): Promise<void>;
  /** The image ID (config digest) the reference names in the runtime, or undefined. */
  idOf(ref: string): Promise<string | undefined>;
  /** Load the archive and make `ref` name its image (the archive was checked to hold exactly `id`). */
  load(file: string, ref: string, id: string): Promise<void>;
}

/** The runtime cannot be reached or used: nothing can be imported on this node. */
export class RuntimeUnreachable extends AppError {
  constructor(message: string, hint: string) {
    super(ExitCode.runtime, message, hint);
    this.name = "RuntimeUnreachable";
  }
}

/** Where a node's kubelet finds its runtime, in the order auto-detection tries them. Docker's own
 * private containerd (/var/run/docker/containerd) is never one: Docker does not see what it holds. */
export const CONTAINERD_SOCKETS = ["/run/containerd/containerd.sock", "/run/k3s/containerd/containerd.sock"];
export const DOCKER_SOCKET = "/var/run/docker.sock";
export const CRI_DOCKERD_SOCKET = "/run/cri-dockerd.sock";

export interface Choice {
  kind: "containerd" | "docker";
  address: string;
  why: string;
}

/** Pure: which runtime to use, given what exists on the node. */
export function chooseRuntime(wanted: string, address: string | undefined, isSocket: (p: string) => boolean): Choice | undefined {
  if (wanted === "docker") return { kind: "docker", address: address ?? DOCKER_SOCKET, why: "--runtime docker" };
  if (wanted === "containerd") {
    const found = address ?? CONTAINERD_SOCKETS.find(isSocket);
    return found ? { kind: "containerd", address: found, why: address ? "--runtime containerd --address" : `--runtime containerd, found ${found}` } : undefined;
  }
  if (address) return { kind: isDockerPath(address) ? "docker" : "containerd", address, why: "--address" };
  // cri-dockerd means the kubelet talks to Docker, even where Docker runs on the system containerd.
  if (isSocket(CRI_DOCKERD_SOCKET) && isSocket(DOCKER_SOCKET)) return { kind: "docker", address: DOCKER_SOCKET, why: `auto: ${CRI_DOCKERD_SOCKET} found, the kubelet uses Docker` };
  const c = CONTAINERD_SOCKETS.find(isSocket);
  if (c) return { kind: "containerd", address: c, why: `auto: ${c} is the kubelet's containerd` };
  if (isSocket(DOCKER_SOCKET)) return { kind: "docker", address: DOCKER_SOCKET, why: `auto: no containerd socket (${CONTAINERD_SOCKETS.join(", ")}), ${DOCKER_SOCKET} found` };
  return undefined;
}

const isDockerPath = (p: string) => /docker\.sock$/.test(p);

export function isSocket(p: string): boolean {
  try {
    return fs.statSync(p).isSocket();
  } catch {
    return false;
  }
}

interface CtrOpts {
  address: string;
  namespace: string;
  ctr: string;
  platform: string;
  signal?: AbortSignal;
}

export function containerd(o: CtrOpts): Runtime {
  const base = ["--address", o.address, "--namespace", o.namespace];
  const ctr = (args: string[], input?: Readable) => run(o.ctr, [...base, ...args], { signal: o.signal, input });
  const content = async (digest: string) => {
    const r = await ctr(["content", "get", digest]);
    if (r.status !== 0) throw new Error(`ctr content get ${digest} failed: ${lastLine(r.stderr)}`);
    return JSON.parse(r.stdout) as { mediaType?: string; manifests?: { digest: string; platform?: { os: string; architecture: string } }[]; config?: { digest: string } };
  };
  const [os, arch] = o.platform.split("/");
  const targetOf = async (ref: string) => {
    const r = await ctr(["images", "ls"]);
    if (r.status !== 0) throw new Error(`ctr images ls failed: ${lastLine(r.stderr)}`);
    return r.stdout.split("\n").slice(1).map((l) => l.trim().split(/\s+/)).find((f) => f[0] === ref)?.[2];
  };
  return {
    name: `containerd (${o.address}, namespace ${o.namespace})`,
    async ping() {
      const r = await ctr(["version"]);
      if (r.status === 127) throw new RuntimeUnreachable(`cannot run ${o.ctr}: ${lastLine(r.stderr)}`, "mount the node's ctr binary and pass --ctr PATH");
      if (r.status !== 0 || !/Server:/.test(r.stdout)) throw new RuntimeUnreachable(`containerd at ${o.address} does not answer: ${lastLine(r.stderr) || `ctr exit ${r.status}`}`, "mount the runtime's socket and pass --address (the chart does)");
    },
    async idOf(ref) {
      const target = await targetOf(ref);
      if (!target) return undefined;
      let doc = await content(target);
      // An import's own index may wrap the registry's index: two levels at most.
      for (let depth = 0; doc.manifests && depth < 2; depth++) {
        const m = doc.manifests.find((x) => x.platform?.os === os && x.platform?.architecture === arch) ?? (doc.manifests.length === 1 ? doc.manifests[0] : undefined);
        if (!m) return undefined;
        doc = await content(m.digest);
      }
      return doc.config?.digest;
    },
    async load(file, ref) {
      // ctr import wants a plain tar: decompress on the way in. The archive's index is kept under a
      // name of our own, then the reference is pointed at it: digest references have no name in the archive.
      const tmp = `download-package-import-${process.pid}-${Date.now()}`;
      const input = file.endsWith(".gz") ? regularStream(file).pipe(createGunzip()) : regularStream(file);
      const r = await ctr(["images", "import", "--index-name", tmp, "-"], input);
      try {
        if (r.status !== 0) throw new Error(`ctr import failed: ${lastLine(r.stderr) || `exit ${r.status}`}`);
        // An OCI layout names REF itself (io.containerd.image.name), pointing at the registry's own
        // manifest: keep that. Otherwise (a docker save archive) REF takes the import's index.
        const named = await targetOf(ref);
        const wrapped = ((await content((await targetOf(tmp)) ?? "")).manifests ?? []).map((m) => m.digest);
        if (named && wrapped.includes(named)) return;
        const t = await ctr(["images", "tag", "--force", tmp, ref]);
        if (t.status !== 0) throw new Error(`ctr images tag ${ref} failed: ${lastLine(t.stderr)}`);
      } finally {
        await run(o.ctr, [...base, "images", "rm", tmp]);
      }
    },
  };
}

function dockerApi(socket: string, method: string, path: string, body?: NodeJS.ReadableStream, signal?: AbortSignal): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request({ socketPath: socket, method, path, signal, headers: body ? { "content-type": "application/x-tar" } : {} }, (res) => {
      let text = "";
      res.on("data", (d) => (text += d));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, text }));
    });
    req.on("error", reject);
    if (body) {
      body.on("error", (e) => req.destroy(e));
      body.pipe(req);
    } else req.end();
  });
}

export function docker(socket: string, signal?: AbortSignal): Runtime {
  const api = (method: string, p: string, body?: NodeJS.ReadableStream) => dockerApi(socket, method, p, body, signal);
  return {
    name: `docker (${socket})`,
    async ping() {
      try {
        const r = await api("GET", "/_ping");
        if (r.status !== 200) throw new Error(`HTTP ${r.status}`);
      } catch (e) {
        if (signal?.aborted) throw e;
        throw new RuntimeUnreachable(`Docker at ${socket} does not answer: ${(e as Error).message}`, "mount the Docker socket and pass --address, or use --runtime containerd");
      }
    },
    async idOf(ref) {
      if (ref.includes("@")) return undefined; // docker load keeps no repository digest: never present by digest
      const r = await api("GET", `/images/${encodeURIComponent(ref)}/json`);
      if (r.status === 404) return undefined;
      if (r.status !== 200) throw new Error(`docker image inspect ${ref}: HTTP ${r.status}`);
      return (JSON.parse(r.text) as { Id: string }).Id;
    },
    async load(file, ref, id) {
      if (ref.includes("@")) throw new Error("Docker cannot name an image by digest from an archive (docker load keeps no repository digest): import into containerd, or push to a registry");
      // docker load takes .tar and .tar.gz alike.
      const r = await api("POST", "/images/load?quiet=1", regularStream(file));
      const err = r.text.split("\n").map((l) => {
        try {
          return (JSON.parse(l) as { error?: string }).error;
        } catch {
          return undefined;
        }
      }).find(Boolean);
      if (r.status !== 200 || err) throw new Error(`docker load failed: ${err ?? `HTTP ${r.status}`}`);
      // The archive's own tag may differ in spelling (nginx:1.25 for docker.io/library/nginx:1.25): name it exactly.
      const [repo, tag] = splitTag(ref);
      const t = await api("POST", `/images/${encodeURIComponent(id)}/tag?repo=${encodeURIComponent(repo)}&tag=${encodeURIComponent(tag)}&force=1`);
      if (t.status !== 201 && t.status !== 200) throw new Error(`docker tag ${ref}: HTTP ${t.status} ${t.text.trim()}`);
    },
  };
}

export function splitTag(ref: string): [string, string] {
  const slash = ref.lastIndexOf("/");
  const colon = ref.lastIndexOf(":");
  return colon > slash ? [ref.slice(0, colon), ref.slice(colon + 1)] : [ref, "latest"];
}
