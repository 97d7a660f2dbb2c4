// Who gets which request headers. Credentials (user-info, token file, basic-auth file) and
// every user header (PACKAGE_HEADERS: Cookie, X-Api-Key, Private-Token, ...) belong to the
// origin (scheme, host, port) of the mirror URL they were given with: a redirect to any
// other origin gets none of them. Only the protocol's own headers travel everywhere.
// Credentials that expire (a registry's bearer token) come from the mirror's AuthProvider,
// asked on every attempt and renewed once when the mirror's origin answers 401.

import fs from "node:fs";
import { UsageError } from "../errors.ts";

export interface CredentialSources {
  headers: [string, string][];
  tokenFile?: string;
  basicAuthFile?: string;
}

/** Credentials that can go stale, for one mirror's origin (an OCI registry session: its own token). */
export interface AuthProvider {
  /** The Authorization header for the mirror's origin now, or undefined. */
  authorization(): string | undefined;
  /** The mirror's origin answered 401 (with this WWW-Authenticate): get fresh credentials; false when there are none to try. */
  refresh(challenge: string | undefined): Promise<boolean>;
}

export interface Mirror {
  url: URL;
  /** Authorization from the URL's user-info, kept off the wire URL. */
  auth?: string;
  /** Asked on every attempt; its answer wins over the static credentials. */
  provider?: AuthProvider;
}

export function parseMirror(text: string): Mirror {
  const url = new URL(text);
  let auth: string | undefined;
  if (url.username || url.password) {
    auth = `Basic ${Buffer.from(`${safeDecode(url.username)}:${safeDecode(url.password)}`).toString("base64")}`;
    url.username = "";
    url.password = "";
  }
  return { url, auth };
}

function safeDecode(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}

function readSecret(file: string, what: string): string {
  try {
    return fs.readFileSync(file, "utf8").trim();
  } catch (e) {
    throw new UsageError(`cannot read the ${what} file ${file}: ${(e as NodeJS.ErrnoException).code ?? e}`, "mount the Secret at that path, or fix the path");
  }
}

export const sameOrigin = (a: URL, b: URL): boolean => a.protocol === b.protocol && a.hostname === b.hostname && effectivePort(a) === effectivePort(b);
const effectivePort = (u: URL) => u.port || (u.protocol === "https:" ? "443" : "80");

/** Headers every hop gets: nothing secret. */
export const PROTOCOL_HEADERS: Readonly<Record<string, string>> = { "user-agent": "download-package", "accept-encoding": "identity" };

/**
 * The origin-bound headers for a mirror: user headers, then credentials (the Secret files
 * are re-read on every attempt, so a rotated Secret is picked up).
 */
export function originHeaders(m: Mirror, c: CredentialSources): Record<string, string> {
  const h: Record<string, string> = {};
  for (const [k, v] of c.headers) h[k.toLowerCase()] = v;
  if (m.auth) h.authorization = m.auth;
  if (c.tokenFile) h.authorization = `Bearer ${readSecret(c.tokenFile, "token")}`;
  if (c.basicAuthFile) h.authorization = `Basic ${Buffer.from(readSecret(c.basicAuthFile, "basic-auth")).toString("base64")}`;
  const provided = m.provider?.authorization();
  if (provided) h.authorization = provided;
  return h;
}

/** The headers for one hop of a redirect chain that started at `origin`. */
export function headersForHop(hop: URL, origin: URL, bound: Record<string, string>, perRequest: Record<string, string>): Record<string, string> {
  return { ...PROTOCOL_HEADERS, ...(sameOrigin(hop, origin) ? bound : {}), ...perRequest };
}
