// A package server of our own, on real loopback sockets (HTTP or HTTPS), that misbehaves
// on request: drop, stall, throttle, status sequences, Retry-After, redirects and loops,
// ignored Range, changing ETag, required auth, corrupt bytes.

import http from "node:http";
import https from "node:https";
import type { AddressInfo } from "node:net";

export interface Route {
  body?: Buffer;
  /** Statuses answered to successive requests before the body is served (e.g. [503, 503]). */
  statuses?: number[];
  retryAfter?: string;
  /** Cut every response after this fraction of the package's size. */
  dropFraction?: number;
  /** Reset the connection, before any answer, on these request indices (0-based). */
  resetOn?: number[];
  /** Stall (stallAfter bytes) only on these request indices; default every request. */
  stallOn?: number[];
  /** Cut the n-th response (0-based) after this many bytes; other responses complete. */
  dropAt?: Record<number, number>;
  /** Send this many bytes, then never another (the connection stays open). */
  stallAfter?: number;
  /** Answer headers never: accept the request and stay silent. */
  stallHeaders?: boolean;
  /** Bytes per second. */
  throttle?: number;
  redirect?: string;
  ignoreRange?: boolean;
  /** ETag per request index; "none" sends no validators at all. */
  etag?: (i: number) => string | undefined;
  noLastModified?: boolean;
  /** Required Authorization header value. */
  auth?: string;
  /** XOR this byte offset of the body. */
  corruptAt?: number;
  contentType?: string;
  /** Extra response headers (e.g. Content-Disposition). */
  headers?: Record<string, string>;
  /** Body per request index (the last one for later requests): content that changes between attempts. */
  bodies?: Buffer[];
  /** Serve a requested range even when If-Range does not match (a server that ignores If-Range). */
  ignoreIfRange?: boolean;
  /** Lie in Content-Range: given the real start and total, what to send. */
  contentRange?: (start: number, end: number, total: number) => string;
  /** Last-Modified per request index (default: a fixed date long past). */
  lastModified?: (i: number) => string;
}

export interface Logged {
  path: string;
  headers: http.IncomingHttpHeaders;
  status: number;
  bytes: number;
  at: number;
}

export interface TestServer {
  url: string;
  port: number;
  route(path: string, r: Route): void;
  log: Logged[];
  bytesSent(path?: string): number;
  close(): Promise<void>;
}

const LAST_MODIFIED = new Date("2026-01-01T00:00:00Z").toUTCString();

export async function startServer(tlsOpts?: { key: string; cert: string; ca?: string; requestCert?: boolean }): Promise<TestServer> {
  const routes = new Map<string, Route>();
  const counts = new Map<string, number>();
  const log: Logged[] = [];
  const sockets = new Set<import("node:net").Socket>();

  const handler = (req: http.IncomingMessage, res: http.ServerResponse) => {
    const path = new URL(req.url ?? "/", "http://x").pathname;
    const r = routes.get(path);
    const i = counts.get(path) ?? 0;
    counts.set(path, i + 1);
    const entry: Logged = { path, headers: req.headers, status: 0, bytes: 0, at: Date.now() };
    log.push(entry);
    const answer = (status: number, headers: Record<string, string> = {}, text = "") => {
      entry.status = status;
      res.writeHead(status, { "content-length": String(Buffer.byteLength(text)), ...headers });
      res.end(text);
    };
    if (!r) return answer(404, {}, "not found\n");
    if (r.stallHeaders) return;
    if (r.resetOn?.includes(i)) return void req.socket.resetAndDestroy();
    if (r.auth && req.headers.authorization !== r.auth) return answer(401, { "www-authenticate": 'Basic realm="t"' }, "unauthorized\n");
    if (r.statuses && i < r.statuses.length) return answer(r.statuses[i], r.retryAfter ? { "retry-after": r.retryAfter } : {}, `status ${r.statuses[i]}\n`);
    if (r.redirect) return answer(302, { location: r.redirect });
    let body = (r.bodies ? r.bodies[Math.min(i, r.bodies.length - 1)] : r.body) ?? Buffer.alloc(0);
    if (r.corruptAt !== undefined) {
      body = Buffer.from(body);
      body[r.corruptAt] ^= 0xff;
    }
    const etag = r.etag ? r.etag(i) : `"v1-${body.length}"`;
    const validators: Record<string, string> = {};
    if (etag && etag !== "none") validators.etag = etag;
    if (!r.noLastModified && etag !== "none") validators["last-modified"] = r.lastModified?.(i) ?? LAST_MODIFIED;
    if (validators.etag && req.headers["if-none-match"] === validators.etag) return answer(304, validators);
    if (!validators.etag && validators["last-modified"] && req.headers["if-modified-since"] === validators["last-modified"]) return answer(304, validators);
    let start = 0;
    let status = 200;
    const range = /^bytes=(\d+)-$/.exec(String(req.headers.range ?? ""));
    const ifRange = req.headers["if-range"];
    const ifRangeOk = r.ignoreIfRange || !ifRange || ifRange === validators.etag || ifRange === validators["last-modified"];
    if (range && !r.ignoreRange && ifRangeOk && Number(range[1]) < body.length) {
      start = Number(range[1]);
      status = 206;
    }
    const slice = body.subarray(start);
    entry.status = status;
    const headers: Record<string, string> = { "content-length": String(slice.length), "content-type": r.contentType ?? "application/octet-stream", "accept-ranges": "bytes", ...validators, ...r.headers };
    if (status === 206) headers["content-range"] = r.contentRange?.(start, body.length - 1, body.length) ?? `bytes ${start}-${body.length - 1}/${body.length}`;
    res.writeHead(status, headers);
    let limit = slice.length;
    if (r.dropFraction !== undefined) limit = Math.min(limit, Math.floor(body.length * r.dropFraction));
    if (r.dropAt?.[i] !== undefined) limit = Math.min(limit, r.dropAt[i]);
    const stall = r.stallAfter !== undefined && r.stallAfter < slice.length && (!r.stallOn || r.stallOn.includes(i));
    if (stall) limit = r.stallAfter!;
    const chunk = r.throttle ? Math.max(1, Math.floor(r.throttle / 20)) : 64 * 1024;
    let sent = 0;
    const pump = () => {
      while (sent < limit) {
        const n = Math.min(chunk, limit - sent);
        const ok = res.write(slice.subarray(sent, sent + n));
        sent += n;
        entry.bytes = sent;
        if (r.throttle) return void setTimeout(pump, 50);
        if (!ok) return void res.once("drain", pump);
      }
      if (stall) return; // hold the socket open, silent
      if (limit < slice.length) {
        // Cut the connection mid-body, after the kernel has the bytes.
        res.socket?.end();
        setTimeout(() => res.socket?.destroy(), 20);
        return;
      }
      res.end();
    };
    pump();
  };

  const server = tlsOpts
    ? https.createServer({ key: tlsOpts.key, cert: tlsOpts.cert, ca: tlsOpts.ca, requestCert: tlsOpts.requestCert ?? false, rejectUnauthorized: tlsOpts.requestCert ?? false }, handler)
    : http.createServer(handler);
  server.on("connection", (s) => {
    sockets.add(s);
    s.on("close", () => sockets.delete(s));
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `${tlsOpts ? "https" : "http"}://127.0.0.1:${port}`,
    port,
    route: (p, r) => routes.set(p, r),
    log,
    bytesSent: (p) => log.filter((l) => !p || l.path === p).reduce((n, l) => n + l.bytes, 0),
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}

/** A host name that does not resolve anywhere but in the test proxy (which maps it to 127.0.0.1). */
export const ONLY_PROXY_HOST = "only-proxy.test";
const proxyResolve = (host: string) => (host === ONLY_PROXY_HOST ? "127.0.0.1" : host);

/** A forward proxy (absolute-form GET and CONNECT) that counts what it relays. */
export async function startProxy(requiredAuth?: string): Promise<{ url: string; requests: string[]; close(): Promise<void> }> {
  const net = await import("node:net");
  const requests: string[] = [];
  const sockets = new Set<import("node:net").Socket>();
  const server = http.createServer((req, res) => {
    requests.push(`GET ${req.url}`);
    if (requiredAuth && req.headers["proxy-authorization"] !== requiredAuth) {
      res.writeHead(407, { "proxy-authenticate": "Basic", "content-length": "0" });
      return res.end();
    }
    const target = new URL(req.url!);
    const headers = { ...req.headers };
    delete headers["proxy-authorization"];
    const up = http.request({ host: proxyResolve(target.hostname), port: target.port, path: target.pathname + target.search, headers, method: req.method }, (ur) => {
      res.writeHead(ur.statusCode ?? 502, ur.headers);
      ur.pipe(res);
    });
    up.on("error", () => res.destroy());
    up.end();
  });
  server.on("connect", (req, client, head) => {
    requests.push(`CONNECT ${req.url}`);
    if (requiredAuth && req.headers["proxy-authorization"] !== requiredAuth) {
      client.end("HTTP/1.1 407 Proxy Authentication Required\r\n\r\n");
      return;
    }
    const [host, port] = (req.url ?? "").split(":");
    const up = net.connect(Number(port), proxyResolve(host), () => {
      client.write("HTTP/1.1 200 Connection Established\r\n\r\n");
      if (head.length) up.write(head);
      up.pipe(client);
      client.pipe(up);
    });
    up.on("error", () => client.destroy());
    client.on("error", () => up.destroy());
  });
  server.on("connection", (s) => {
    sockets.add(s);
    s.on("close", () => sockets.delete(s));
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    requests,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}
