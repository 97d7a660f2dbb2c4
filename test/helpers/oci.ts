// Real Distribution registries for the oci:// tests: anonymous, htpasswd, token auth (with a
// token server of ours signing RS256 JWTs the registry trusts), pull-through mirrors; and a
// reverse proxy in front of one that misbehaves on blobs (drop, corrupt, redirect elsewhere).

import { execFileSync, spawn, type ChildProcess } from "node:child_process";
import crypto from "node:crypto";
import fs from "node:fs";
import http from "node:http";
import net from "node:net";
import path from "node:path";
import { freePort } from "./registry.ts";
import { tmpdir } from "./run.ts";

export const hasRegistry = (() => {
  try {
    execFileSync("sh", ["-c", "command -v docker-registry && command -v htpasswd && command -v openssl"], { stdio: "ignore" });
    return true;
  } catch {
    return false;
  }
})();

export interface OciRegistry {
  host: string;
  dir: string;
  close(): Promise<void>;
}

export type RegistryAuth = { kind: "none" } | { kind: "htpasswd"; user: string; password: string } | { kind: "token"; token: TokenServer };

async function waitForPort(port: number) {
  for (let i = 0; i < 100; i++) {
    const up = await new Promise<boolean>((r) => {
      const s = net.connect(port, "127.0.0.1", () => (s.destroy(), r(true)));
      s.on("error", () => r(false));
    });
    if (up) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`registry on ${port} did not start`);
}

export async function startOciRegistry(auth: RegistryAuth, proxy?: { remoteurl: string; username?: string; password?: string }, tls?: { certFile: string; keyFile: string }): Promise<OciRegistry> {
  const dir = tmpdir("dp-oci-registry-");
  const port = await freePort();
  let extra = "";
  if (auth.kind === "htpasswd") {
    execFileSync("htpasswd", ["-B", "-i", "-c", path.join(dir, "htpasswd"), auth.user], { input: auth.password, stdio: ["pipe", "ignore", "ignore"] });
    extra += `auth:\n  htpasswd:\n    realm: test\n    path: ${dir}/htpasswd\n`;
  } else if (auth.kind === "token") {
    const t = auth.token;
    extra += `auth:\n  token:\n    realm: ${t.url}/token\n    service: ${t.service}\n    issuer: ${t.issuer}\n    rootcertbundle: ${t.certFile}\n`;
  }
  if (proxy) extra += `proxy:\n  remoteurl: ${proxy.remoteurl}\n${proxy.username ? `  username: ${proxy.username}\n  password: ${proxy.password}\n` : ""}`;
  fs.writeFileSync(path.join(dir, "config.yml"), `version: 0.1\nlog:\n  level: warn\nstorage:\n  filesystem:\n    rootdirectory: ${dir}/data\n  delete:\n    enabled: true\nhttp:\n  addr: 127.0.0.1:${port}\n${tls ? `  tls:\n    certificate: ${tls.certFile}\n    key: ${tls.keyFile}\n` : ""}${extra}`);
  const logFd = fs.openSync(path.join(dir, "registry.log"), "w");
  const child: ChildProcess = spawn("docker-registry", ["serve", path.join(dir, "config.yml")], { stdio: ["ignore", logFd, logFd] });
  fs.closeSync(logFd);
  await waitForPort(port);
  return {
    host: `127.0.0.1:${port}`,
    dir,
    close: () =>
      new Promise<void>((r) => {
        if (child.exitCode !== null) return r();
        child.once("exit", () => r());
        child.kill();
      }),
  };
}

/** libtrust's key ID, which Distribution uses to find a JWT's key (kid) among rootcertbundle's. */
export function libtrustKeyId(certPem: string): string {
  const der = crypto.createPublicKey(certPem).export({ type: "spki", format: "der" });
  const bytes = crypto.createHash("sha256").update(der).digest().subarray(0, 30);
  const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
  let bits = "";
  for (const b of bytes) bits += b.toString(2).padStart(8, "0");
  let out = "";
  for (let i = 0; i < bits.length; i += 5) out += alphabet[parseInt(bits.slice(i, i + 5).padEnd(5, "0"), 2)];
  return out.match(/.{4}/g)!.join(":");
}

export interface TokenServer {
  url: string;
  service: string;
  issuer: string;
  certFile: string;
  /** Requests received: the scope asked and whether the credentials were right. */
  requests: { scope: string; user?: string; granted: boolean }[];
  /** A token for these actions, as the server would issue it. */
  mint(repository: string, actions: string[], ttlSeconds?: number): string;
  /**
   * The lifetime of the tokens it issues (default 300 s). Distribution accepts a token up to 60 s
   * past its exp (its leeway): -57 gives a token the registry refuses about 3 s after it was issued.
   */
  ttlSeconds: number;
  close(): Promise<void>;
}

export async function startTokenServer(users: Record<string, string>): Promise<TokenServer> {
  const dir = tmpdir("dp-oci-token-");
  execFileSync("openssl", ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", `${dir}/key.pem`, "-out", `${dir}/cert.pem`, "-subj", "/CN=dp-test-token", "-days", "2"], { stdio: "ignore" });
  const key = fs.readFileSync(`${dir}/key.pem`, "utf8");
  const cert = fs.readFileSync(`${dir}/cert.pem`, "utf8");
  const kid = libtrustKeyId(cert);
  const service = "dp-test-registry";
  const issuer = "dp-test-issuer";
  const b64 = (o: unknown) => Buffer.from(JSON.stringify(o)).toString("base64url");
  const mint = (repository: string, actions: string[], ttl = 300, sub = "tester") => {
    const now = Math.floor(Date.now() / 1000);
    const input = `${b64({ alg: "RS256", typ: "JWT", kid })}.${b64({ iss: issuer, sub, aud: service, exp: now + ttl, nbf: now - 10, iat: now, jti: crypto.randomUUID(), access: actions.length ? [{ type: "repository", name: repository, actions }] : [] })}`;
    return `${input}.${crypto.sign("sha256", Buffer.from(input), key).toString("base64url")}`;
  };
  const requests: TokenServer["requests"] = [];
  const self = { ttl: 300 };
  const server = http.createServer((req, res) => {
    const u = new URL(req.url ?? "/", "http://x");
    const scope = u.searchParams.get("scope") ?? "";
    const m = /^Basic (.+)$/.exec(req.headers.authorization ?? "");
    const [user, password] = m ? Buffer.from(m[1], "base64").toString().split(/:(.*)/s) : [];
    const granted = user !== undefined && users[user] === password;
    requests.push({ scope, user, granted });
    if (!granted) {
      res.writeHead(401, { "content-type": "application/json", "www-authenticate": 'Basic realm="token"' });
      return res.end('{"errors":[{"code":"UNAUTHORIZED"}]}');
    }
    const [, repository, actions] = /^repository:([^:]+):(.*)$/.exec(scope) ?? [];
    const token = mint(repository ?? "", actions ? actions.split(",") : [], self.ttl);
    res.writeHead(200, { "content-type": "application/json" });
    res.end(JSON.stringify({ token, expires_in: Math.max(1, self.ttl + 60) }));
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  return {
    url: `http://127.0.0.1:${(server.address() as net.AddressInfo).port}`,
    service,
    issuer,
    certFile: `${dir}/cert.pem`,
    requests,
    mint: (repo, actions, ttl) => mint(repo, actions, ttl),
    get ttlSeconds() {
      return self.ttl;
    },
    set ttlSeconds(v: number) {
      self.ttl = v;
    },
    close: () => new Promise<void>((r) => (server.closeAllConnections(), server.close(() => r()))),
  };
}

export interface ProxyBehaviour {
  /** Cut the n-th blob GET (0-based, counted from when this behaviour was set) after this many bytes. */
  dropBlobAt?: Record<number, number>;
  /** With dropBlobAt: hold the connection silent this long before cutting it. */
  dropAfterMs?: number;
  /** Answer the n-th blob GET with this status, without asking the registry. */
  blobStatus?: Record<number, number>;
  /** XOR one byte of every blob body at this offset. */
  corruptBlobAt?: number;
  /** Append a newline to manifest bodies: still JSON, another digest. */
  alterManifests?: boolean;
  /** Answer blob GETs with a 307 to this base URL + the path (object storage elsewhere). */
  redirectBlobsTo?: string;
}

export interface RegistryProxy {
  host: string;
  /** "METHOD path status" per request, and the headers each carried. */
  log: { line: string; headers: http.IncomingHttpHeaders }[];
  behaviour: ProxyBehaviour;
  close(): Promise<void>;
}

/** A reverse proxy in front of a registry, misbehaving on blob GETs as told. */
export async function startRegistryProxy(upstream: string, behaviour: ProxyBehaviour = {}): Promise<RegistryProxy> {
  const [uhost, uport] = upstream.split(":");
  const log: RegistryProxy["log"] = [];
  // Blob GETs are counted from the last change of behaviour.
  const self = { behaviour, blobGets: 0 };
  const server = http.createServer((req, res) => {
    const entry = { line: `${req.method} ${req.url}`, headers: req.headers };
    log.push(entry);
    const b = self.behaviour;
    const isBlobGet = req.method === "GET" && /^\/v2\/.+\/blobs\/sha256:/.test(req.url ?? "");
    if (isBlobGet && b.redirectBlobsTo) {
      entry.line += " 307";
      res.writeHead(307, { location: `${b.redirectBlobsTo}${req.url}`, "content-length": "0" });
      return res.end();
    }
    const index = isBlobGet ? self.blobGets++ : -1;
    const status = b.blobStatus?.[index];
    if (status !== undefined) {
      entry.line += ` ${status}`;
      res.writeHead(status, { "content-length": "0" });
      return res.end();
    }
    const up = http.request({ host: uhost, port: Number(uport), method: req.method, path: req.url, headers: { ...req.headers, host: upstream } }, (ur) => {
      entry.line += ` ${ur.statusCode}`;
      const alter = b.alterManifests && req.method === "GET" && /\/manifests\//.test(req.url ?? "");
      const headers = { ...ur.headers };
      if (alter) delete headers["content-length"];
      res.writeHead(ur.statusCode ?? 502, headers);
      if (alter) ur.on("end", () => res.write("\n"));
      const cut = isBlobGet ? b.dropBlobAt?.[index] : undefined;
      let offset = 0;
      ur.on("data", (chunk: Buffer) => {
        let c = chunk;
        if (isBlobGet && b.corruptBlobAt !== undefined && b.corruptBlobAt >= offset && b.corruptBlobAt < offset + c.length) {
          c = Buffer.from(c);
          c[b.corruptBlobAt - offset] ^= 0xff;
        }
        if (cut !== undefined && offset + c.length >= cut) {
          res.write(c.subarray(0, cut - offset));
          ur.destroy();
          setTimeout(() => {
            res.socket?.end();
            setTimeout(() => res.socket?.destroy(), 20);
          }, b.dropAfterMs ?? 0);
          offset = cut;
          return;
        }
        offset += c.length;
        res.write(c);
      });
      ur.on("end", () => res.end());
    });
    up.on("error", () => res.destroy());
    req.pipe(up);
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  return {
    host: `127.0.0.1:${(server.address() as net.AddressInfo).port}`,
    log,
    get behaviour() {
      return self.behaviour;
    },
    set behaviour(v: ProxyBehaviour) {
      [self.behaviour, self.blobGets] = [v, 0];
    },
    close: () => new Promise<void>((r) => (server.closeAllConnections(), server.close(() => r()))),
  };
}
