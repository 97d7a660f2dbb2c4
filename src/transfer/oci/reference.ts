// oci://HOST[:PORT]/REPO[:TAG][@sha256:HEX]: a package stored as an OCI artifact. Pure.
// Grammar from the OCI distribution spec (repository names, tags) and docker's reference
// package (host with an optional port, lowercase path components).

import { UsageError } from "../../errors.ts";

export interface OciReference {
  /** host or host:port, as written (IPv6 in brackets). */
  registry: string;
  repository: string;
  /** Absent when only a digest was given. "latest" when neither was. */
  tag?: string;
  /** "sha256:HEX" or "sha512:HEX": the manifest's (or index's) own digest. */
  digest?: string;
}

export const OCI_SCHEME = "oci://";

const HOST = /^(?:\[[0-9a-fA-F:.]+\]|[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*)(?::(\d{1,5}))?$/;
const COMPONENT = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$/;
const TAG = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$/;
const DIGEST = /^(sha256:[0-9a-f]{64}|sha512:[0-9a-f]{128})$/;

export const isOciUrl = (text: string): boolean => text.slice(0, OCI_SCHEME.length).toLowerCase() === OCI_SCHEME;

function malformed(text: string, why: string): UsageError {
  return new UsageError(`PACKAGE_URL ${JSON.stringify(text.slice(0, 200))} is not a valid OCI reference: ${why}`, "write oci://REGISTRY[:PORT]/REPOSITORY:TAG or oci://REGISTRY/REPOSITORY@sha256:DIGEST (lowercase repository)");
}

/** Throws UsageError (exit 2) naming what is wrong. */
export function parseReference(text: string): OciReference {
  if (!isOciUrl(text)) throw malformed(text, "it does not start with oci://");
  const rest = text.slice(OCI_SCHEME.length);
  if (/[\s?#\\]/.test(rest)) throw malformed(text, "it contains a space, ?, # or \\");
  const slash = rest.indexOf("/");
  if (slash <= 0) throw malformed(text, "no repository after the registry host");
  const registry = rest.slice(0, slash);
  if (registry.includes("@")) throw malformed(text, "credentials do not belong in the reference (use PACKAGE_REGISTRY_CONFIG)");
  const hostMatch = HOST.exec(registry);
  if (!hostMatch || (hostMatch[1] !== undefined && (Number(hostMatch[1]) === 0 || Number(hostMatch[1]) > 65535))) throw malformed(text, `bad registry host ${JSON.stringify(registry)}`);

  let path = rest.slice(slash + 1);
  let digest: string | undefined;
  const at = path.indexOf("@");
  if (at >= 0) {
    digest = path.slice(at + 1);
    path = path.slice(0, at);
    if (!DIGEST.test(digest)) throw malformed(text, "the digest must be sha256: and 64 lowercase hex digits (or sha512: and 128)");
  }
  let tag: string | undefined;
  const lastSlash = path.lastIndexOf("/");
  const colon = path.lastIndexOf(":");
  if (colon > lastSlash) {
    tag = path.slice(colon + 1);
    path = path.slice(0, colon);
    if (!TAG.test(tag)) throw malformed(text, `bad tag ${JSON.stringify(tag)} (letters, digits, _ . -, at most 128, not starting with . or -)`);
  }
  if (!path) throw malformed(text, "empty repository");
  for (const c of path.split("/")) {
    if (!COMPONENT.test(c)) throw malformed(text, `bad repository component ${JSON.stringify(c)} (lowercase letters, digits and . _ - separators)`);
  }
  if (path.length > 255) throw malformed(text, "repository name longer than 255 characters");
  if (!tag && !digest) tag = "latest";
  return { registry: registry.toLowerCase(), repository: path, tag, digest };
}

export function formatReference(r: OciReference): string {
  return `${OCI_SCHEME}${r.registry}/${r.repository}${r.tag ? `:${r.tag}` : ""}${r.digest ? `@${r.digest}` : ""}`;
}

/** What to ask the registry for: the digest when pinned (immutable), else the tag. */
export const manifestReference = (r: OciReference): string => r.digest ?? r.tag!;

/** The registry's API base, https unless plain HTTP was asked for. */
export function registryBase(r: Pick<OciReference, "registry">, plainHttp: boolean): string {
  return `${plainHttp ? "http" : "https"}://${r.registry}`;
}
