// The two places images can go on a node: containerd (through `ctr`, the node's own
// binary) or Docker (through its Engine API on the socket: no docker CLI needed).

import fs from "node:fs";
import http from "node:http";
import { createGunzip } from "node:zlib";
import { lastLine, run } from "./proc.ts";

export interface Runtime {
  name: string;
  has(ref: string): Promise<boolean>;
  load(file: string): Promise<void>;
}

export const CONTAINERD_SOCKETS = ["/run/containerd/containerd.sock", "/run/k3s/containerd/containerd.sock", "/var/run/docker/containerd/containerd.sock"];
export const DOCKER_SOCKET = "/var/run/docker.sock";

export function containerd(address: string, namespace: string, ctr: string): Runtime {
  let names: Set<string> | undefined;
  const base = ["--address", address, "--namespace", namespace];
  return {
    name: `containerd (${address}, namespace ${namespace})`,
    async has(ref) {
      if (!names) {
        const r = await run(ctr, [...base, "images", "ls", "-q"]);
        if (r.status !== 0) throw new Error(`ctr images ls failed: ${lastLine(r.stderr)}`);
        names = new Set(r.stdout.split("\n").map((s) => s.trim()).filter(Boolean));
      }
      return names.has(ref);
    },
    async load(file) {
      // ctr import wants a plain tar: decompress on the way in.
      const input = file.endsWith(".gz") ? fs.createReadStream(file).pipe(createGunzip()) : fs.createReadStream(file);
      const r = await run(ctr, [...base, "images", "import", "-"], { input });
      if (r.status !== 0) throw new Error(`ctr import failed: ${lastLine(r.stderr) || `exit ${r.status}`}`);
      names = undefined;
    },
  };
}

function dockerApi(socket: string, method: string, path: string, body?: fs.ReadStream): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request({ socketPath: socket, method, path, headers: body ? { "content-type": "application/x-tar" } : {} }, (res) => {
      let text = "";
      res.on("data", (d) => (text += d));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, text }));
    });
    req.on("error", reject);
    if (body) body.pipe(req);
    else req.end();
  });
}

export function docker(socket: string): Runtime {
  return {
    name: `docker (${socket})`,
    async has(ref) {
      return (await dockerApi(socket, "GET", `/images/${encodeURIComponent(ref)}/json`)).status === 200;
    },
    async load(file) {
      // docker load takes .tar and .tar.gz alike.
      const r = await dockerApi(socket, "POST", "/images/load?quiet=1", fs.createReadStream(file));
      const err = r.text.split("\n").map((l) => {
        try {
          return (JSON.parse(l) as { error?: string }).error;
        } catch {
          return undefined;
        }
      }).find(Boolean);
      if (r.status !== 200 || err) throw new Error(`docker load failed: ${err ?? `HTTP ${r.status}`}`);
    },
  };
}
