import http from "node:http";
import https from "node:https";
import net from "node:net";
import tls from "node:tls";
import { TransferFailure } from "../failure.ts";
import { flattenHeaders, type Transport, type TransportRequest, type TransportResponse } from "./types.ts";

function proxyAuth(proxy: URL): Record<string, string> {
  if (!proxy.username) return {};
  // A malformed %-escape in the proxy's user-info is sent as written, never a crash (exit 1).
  const decode = (v: string) => {
    try {
      return decodeURIComponent(v);
    } catch {
      return v;
    }
  };
  const cred = `${decode(proxy.username)}:${decode(proxy.password)}`;
  return { "proxy-authorization": `Basic ${Buffer.from(cred).toString("base64")}` };
}

/** Open a CONNECT tunnel through an HTTP proxy; resolves with the raw socket. */
function tunnel(req: TransportRequest, proxy: URL): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const port = req.url.port || "443";
    const connectReq = http.request({
      host: proxy.hostname,
      port: proxy.port || 80,
      method: "CONNECT",
      path: `${req.url.hostname}:${port}`,
      headers: { host: `${req.url.hostname}:${port}`, ...proxyAuth(proxy) },
      signal: req.signal,
    });
    connectReq.once("connect", (res, socket) => {
      if (res.statusCode !== 200) {
        socket.destroy();
        reject(new TransferFailure("proxy", `proxy refused CONNECT with HTTP ${res.statusCode}`, { retryable: res.statusCode !== 407 }));
      } else resolve(socket);
    });
    connectReq.once("error", reject);
    connectReq.end();
  });
}

export function nodeHttpTransport(): Transport {
  return {
    name: "node",
    available: () => true,
    async request(req): Promise<TransportResponse> {
      const isHttps = req.url.protocol === "https:";
      const tlsOpts = { ca: req.tls.ca, cert: req.tls.cert, key: req.tls.key, rejectUnauthorized: !req.tls.insecure, servername: net.isIP(req.url.hostname) ? undefined : req.url.hostname };
      let options: https.RequestOptions = { method: "GET", headers: req.headers, signal: req.signal, agent: false };
      let mod: typeof http | typeof https = isHttps ? https : http;
      if (req.proxy && !isHttps) {
        // Plain HTTP through a proxy: absolute-form request line to the proxy.
        options = { ...options, host: req.proxy.hostname, port: req.proxy.port || 80, path: req.url.href, headers: { ...req.headers, host: req.url.host, ...proxyAuth(req.proxy) } };
        mod = http;
      } else if (req.proxy && isHttps) {
        const socket = await withTimeout(tunnel(req, req.proxy), req.connectTimeoutMs, "proxy CONNECT");
        // createConnection is only used without an agent option: `agent: false` would make
        // Node build its own agent and connect straight to the origin, bypassing the tunnel.
        const { agent: _unused, ...rest } = options;
        options = { ...rest, ...tlsOpts, createConnection: () => tls.connect({ ...tlsOpts, host: req.url.hostname, socket }) } as https.RequestOptions;
        return send(https, req.url, options, req);
      } else {
        options = { ...options, ...(isHttps ? tlsOpts : {}) };
      }
      return send(mod, req.proxy && !isHttps ? undefined : req.url, options, req);
    },
  };
}

function send(mod: typeof http | typeof https, url: URL | undefined, options: https.RequestOptions, req: TransportRequest): Promise<TransportResponse> {
  return new Promise((resolve, reject) => {
    const r = url ? mod.request(url, options) : mod.request(options);
    const timer = setTimeout(() => r.destroy(new TransferFailure("timeout", `connect timeout after ${req.connectTimeoutMs} ms`)), req.connectTimeoutMs);
    r.once("socket", (s) => {
      if (!s.connecting) clearTimeout(timer);
      else s.once(isSecure(s) ? "secureConnect" : "connect", () => clearTimeout(timer));
    });
    r.once("response", (res) => {
      clearTimeout(timer);
      resolve({ status: res.statusCode ?? 0, headers: flattenHeaders(res.headers), body: res });
    });
    r.once("error", (e) => {
      clearTimeout(timer);
      reject(e);
    });
    r.end();
  });
}

function isSecure(s: net.Socket): boolean {
  return s instanceof tls.TLSSocket;
}

function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new TransferFailure("timeout", `${what} timed out after ${ms} ms`)), ms);
    p.then((v) => (clearTimeout(t), resolve(v)), (e) => (clearTimeout(t), reject(e)));
  });
}
