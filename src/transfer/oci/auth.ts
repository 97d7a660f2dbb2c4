// Registry credentials and the WWW-Authenticate challenge. Pure, but for reading the files.
//
// Where credentials come from, first match wins:
//   PACKAGE_REGISTRY_CONFIG   a docker config.json / .dockerconfigjson: "auths" → host → auth (base64 user:password) or username/password
//   PACKAGE_BASIC_AUTH_FILE   user:password (for every registry listed, as for http mirrors)
//   PACKAGE_TOKEN_FILE        a bearer token sent as is (no token dance)
//   push only: REGISTRY_USERNAME with REGISTRY_PASSWORD or REGISTRY_PASSWORD_FILE (environment only)

import fs from "node:fs";
import { UsageError } from "../../errors.ts";

export type Credentials = { kind: "anonymous" } | { kind: "basic"; username: string; password: string; source: string } | { kind: "token"; file: string };

export interface CredentialSources {
  registryConfig?: string;
  basicAuthFile?: string;
  tokenFile?: string;
  /** REGISTRY_USERNAME / REGISTRY_PASSWORD(_FILE): `package push` only. */
  pushEnv?: NodeJS.ProcessEnv;
}

function readFile(file: string, what: string): string {
  try {
    return fs.readFileSync(file, "utf8");
  } catch (e) {
    throw new UsageError(`cannot read the ${what} ${file}: ${(e as NodeJS.ErrnoException).code ?? e}`, "mount the Secret at that path, or fix the path");
  }
}

/** "https://host:5000/v2/" → "host:5000": docker config keys are written many ways. */
export function normaliseRegistryKey(key: string): string {
  return key.trim().replace(/^[a-z]+:\/\//i, "").split("/")[0].toLowerCase();
}

/** The entry for the registry in a docker config.json's text; undefined when it has none. */
export function dockerConfigEntry(text: string, registry: string, file = "PACKAGE_REGISTRY_CONFIG"): { username: string; password: string } | undefined {
  let doc: { auths?: Record<string, { auth?: string; username?: string; password?: string }> };
  try {
    doc = JSON.parse(text);
  } catch {
    throw new UsageError(`${file} is not JSON`, "mount a kubernetes.io/dockerconfigjson Secret's .dockerconfigjson (a docker config.json)");
  }
  if (!doc || typeof doc.auths !== "object" || doc.auths === null) throw new UsageError(`${file} has no "auths" object`, 'write it as docker login does: {"auths": {"registry:5000": {"auth": "base64(user:password)"}}}');
  const host = registry.toLowerCase();
  const entry = Object.entries(doc.auths).find(([k]) => normaliseRegistryKey(k) === host)?.[1];
  if (!entry) return undefined;
  if (entry.username !== undefined || entry.password !== undefined) return { username: entry.username ?? "", password: entry.password ?? "" };
  if (typeof entry.auth !== "string") return undefined;
  const decoded = Buffer.from(entry.auth, "base64").toString("utf8");
  const i = decoded.indexOf(":");
  if (i < 0) throw new UsageError(`${file}: the "auth" of ${registry} is not base64 of user:password`, "recreate the Secret with kubectl create secret docker-registry, or docker login");
  return { username: decoded.slice(0, i), password: decoded.slice(i + 1) };
}

function splitUserPassword(text: string, source: string): Credentials {
  const t = text.replace(/\r?\n$/, "");
  const i = t.indexOf(":");
  if (i <= 0) throw new UsageError(`${source} does not hold user:password`, "write the file as user:password on one line");
  return { kind: "basic", username: t.slice(0, i), password: t.slice(i + 1), source };
}

/** The credentials for one registry host. Files are read now (a rotated Secret is picked up on the next run). */
export function credentialsFor(registry: string, s: CredentialSources): Credentials {
  if (s.registryConfig) {
    const e = dockerConfigEntry(readFile(s.registryConfig, "registry config"), registry);
    return e ? { kind: "basic", ...e, source: `PACKAGE_REGISTRY_CONFIG entry for ${registry}` } : { kind: "anonymous" };
  }
  if (s.basicAuthFile) return splitUserPassword(readFile(s.basicAuthFile, "basic-auth file"), "PACKAGE_BASIC_AUTH_FILE");
  if (s.tokenFile) return { kind: "token", file: s.tokenFile };
  const env = s.pushEnv;
  if (env?.REGISTRY_USERNAME) {
    const password = env.REGISTRY_PASSWORD_FILE ? readFile(env.REGISTRY_PASSWORD_FILE, "REGISTRY_PASSWORD_FILE").replace(/\r?\n$/, "") : env.REGISTRY_PASSWORD;
    if (password === undefined) throw new UsageError("REGISTRY_USERNAME is set without REGISTRY_PASSWORD or REGISTRY_PASSWORD_FILE", "set REGISTRY_PASSWORD_FILE to a file holding the password");
    return { kind: "basic", username: env.REGISTRY_USERNAME, password, source: "REGISTRY_USERNAME/REGISTRY_PASSWORD" };
  }
  return { kind: "anonymous" };
}

export const basicHeader = (c: { username: string; password: string }) => `Basic ${Buffer.from(`${c.username}:${c.password}`).toString("base64")}`;

export function bearerFromFile(file: string): string {
  const t = readFile(file, "token file").trim();
  if (!t) throw new UsageError(`the token file ${file} is empty`, "mount the Secret holding the registry token");
  return `Bearer ${t}`;
}

export interface Challenge {
  scheme: string;
  params: Record<string, string>;
}

/** `Bearer realm="https://auth/token",service="registry",scope="repository:x:pull"` (RFC 7235). */
export function parseChallenge(header: string | undefined): Challenge | undefined {
  const m = /^\s*([A-Za-z][A-Za-z0-9_-]*)\s*(.*)$/s.exec(header ?? "");
  if (!m) return undefined;
  const params: Record<string, string> = {};
  const re = /([A-Za-z0-9_-]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^\s,]*))\s*,?\s*/gy;
  let p: RegExpExecArray | null;
  while ((p = re.exec(m[2])) !== null && p[0] !== "") params[p[1].toLowerCase()] = p[2] !== undefined ? p[2].replace(/\\(.)/g, "$1") : p[3];
  return { scheme: m[1].toLowerCase(), params };
}
