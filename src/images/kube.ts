// A minimal Kubernetes API client for the hook: JSON over HTTPS with the Pod's service
// account token and CA (in-cluster), nothing else. Any failure to talk to the API is a
// KubeError (exit 8): the hook cannot know what reached which node.

import https from "node:https";
import { AppError, ExitCode } from "../errors.ts";
import { readRegular } from "./store.ts";

export const SA_DIR = "/var/run/secrets/kubernetes.io/serviceaccount";

export class KubeError extends AppError {
  constructor(message: string, hint = "check the hook's ServiceAccount, its RBAC (nodes: list; pods: create, get, list, delete) and the API server") {
    super(ExitCode.runtime, message, hint);
    this.name = "KubeError";
  }
}

export interface KubeConfig {
  server: string;
  tokenFile: string;
  caFile: string;
}

export function inCluster(env: NodeJS.ProcessEnv): string | undefined {
  const host = env.KUBERNETES_SERVICE_HOST;
  if (!host) return undefined;
  return `https://${host.includes(":") ? `[${host}]` : host}:${env.KUBERNETES_SERVICE_PORT ?? "443"}`;
}

export class Kube {
  private readonly ca: string;
  private readonly cfg: KubeConfig;
  private readonly signal?: AbortSignal;
  constructor(cfg: KubeConfig, signal?: AbortSignal) {
    this.cfg = cfg;
    this.signal = signal;
    try {
      this.ca = readRegular(cfg.caFile, 1 << 20);
    } catch (e) {
      throw new KubeError(`cannot read the API server's CA ${cfg.caFile}: ${(e as Error).message}`, "run inside the cluster (the service account is mounted) or pass --ca-file");
    }
  }

  async request<T>(method: string, path: string, body?: unknown): Promise<{ status: number; json: T }> {
    let token: string;
    try {
      token = readRegular(this.cfg.tokenFile, 1 << 20).trim(); // re-read: the token is rotated
    } catch (e) {
      throw new KubeError(`cannot read the service account token ${this.cfg.tokenFile}: ${(e as Error).message}`);
    }
    const data = body === undefined ? undefined : JSON.stringify(body);
    return new Promise((resolve, reject) => {
      const req = https.request(new URL(path, this.cfg.server), {
        method,
        ca: this.ca,
        signal: this.signal,
        timeout: 30_000,
        headers: { authorization: `Bearer ${token}`, accept: "application/json", ...(data ? { "content-type": "application/json" } : {}) },
      }, (res) => {
        let text = "";
        res.on("data", (d) => (text += d));
        res.on("end", () => {
          try {
            resolve({ status: res.statusCode ?? 0, json: (text ? JSON.parse(text) : {}) as T });
          } catch {
            reject(new KubeError(`${method} ${path}: HTTP ${res.statusCode}, not JSON`));
          }
        });
      });
      req.on("timeout", () => req.destroy(new Error("no answer in 30s")));
      req.on("error", (e) => reject(this.signal?.aborted ? e : new KubeError(`${method} ${path}: ${e.message}`)));
      req.end(data);
    });
  }

  /** The request, which must answer 2xx (or one of `also`). */
  async must<T>(method: string, path: string, body?: unknown, also: number[] = []): Promise<T> {
    const r = await this.request<T & { message?: string }>(method, path, body);
    if ((r.status < 200 || r.status > 299) && !also.includes(r.status)) throw new KubeError(`${method} ${path}: HTTP ${r.status}${r.json.message ? `: ${r.json.message}` : ""}`);
    return r.json;
  }
}
