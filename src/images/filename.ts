// File name of an exported image, one-to-one with the normalized reference so that two
// images can never share a file: `nginx:1.25` → nginx_1.25.tar.gz,
// `quay.io/org/app:1` → quay.io_org_app_1.tar.gz. A literal `_` is doubled, a registry
// port's `:` becomes `_-`, a digest is kept whole after `@` (none of these sequences can come
// from anything else). Pure.

import { createHash } from "node:crypto";
import { normalizeRef } from "./refs.ts";

const MAX = 240; // file names are limited to 255 bytes; leave room for .tmp

export function fileNameFor(ref: string): string {
  const n = normalizeRef(ref);
  const at = n.indexOf("@");
  const nameTag = at >= 0 ? n.slice(0, at) : n;
  const digest = at >= 0 ? n.slice(at + 1) : "";
  const slash = nameTag.lastIndexOf("/");
  const colon = nameTag.lastIndexOf(":");
  const [name, tag] = colon > slash ? [nameTag.slice(0, colon), nameTag.slice(colon + 1)] : [nameTag, ""];
  const parts = name.split("/");
  let registry = parts.shift() ?? "";
  // Docker Hub's official images keep their short names; other Hub images lose only "docker.io".
  if (registry === "docker.io" && parts[0] === "library" && parts.length === 2) parts.shift();
  if (registry === "docker.io" && !parts[0].includes(".") && parts[0] !== "localhost") registry = "";
  const esc = (s: string) => s.replace(/_/g, "__");
  const path = [...(registry ? [esc(registry).replace(/:/g, "_-")] : []), ...parts.map(esc)].join("_");
  const base = `${path}${tag ? `_${esc(tag)}` : ""}${digest ? `@${digest.replace(":", "-")}` : ""}`;
  if (Buffer.byteLength(base) <= MAX) return `${base}.tar.gz`;
  const h = createHash("sha256").update(n).digest("hex").slice(0, 32);
  return `${base.slice(0, MAX - 40)}-${h}.tar.gz`;
}
