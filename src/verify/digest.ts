// Expected digests: parsed from what the user wrote (PACKAGE_SHA256, a checksum file's line)
// and compared in one place. Pure.

import { UsageError } from "../errors.ts";

export type DigestAlgorithm = "sha256" | "sha512";

export interface ExpectedDigest {
  algorithm: DigestAlgorithm;
  hex: string;
}

const HEX_LENGTH: Record<DigestAlgorithm, number> = { sha256: 64, sha512: 128 };

/** "HEX" (64 → sha256, 128 → sha512), "sha256:HEX", "sha512:HEX". Throws UsageError naming `source`. */
export function parseExpectedDigest(text: string, source: string): ExpectedDigest {
  const m = /^(?:(sha256|sha512)[:=])?([0-9a-fA-F]+)$/.exec(text.trim());
  const len = m ? m[2].length : 0;
  const algorithm = (m?.[1] as DigestAlgorithm | undefined) ?? (len === HEX_LENGTH.sha512 ? "sha512" : "sha256");
  if (!m || len !== HEX_LENGTH[algorithm])
    throw new UsageError(`${source} is not a SHA-256 or SHA-512 digest`, "give 64 hex digits, or sha256:HEX / sha512:HEX (as printed by sha256sum)");
  return { algorithm, hex: m[2].toLowerCase() };
}

/** A bare hex digest whose length names its algorithm (a sha256sum/sha512sum line), else undefined. */
export function digestFromHex(hex: string): ExpectedDigest | undefined {
  if (!/^[0-9a-fA-F]+$/.test(hex)) return undefined;
  if (hex.length === HEX_LENGTH.sha256) return { algorithm: "sha256", hex: hex.toLowerCase() };
  if (hex.length === HEX_LENGTH.sha512) return { algorithm: "sha512", hex: hex.toLowerCase() };
  return undefined;
}

/** "sha256:HEX", as OCI descriptors and the logs write it. */
export function formatDigest(d: { algorithm: string; hex: string }): string {
  return `${d.algorithm}:${d.hex}`;
}

/** Same algorithm and same bytes; an absent side never matches. */
export function sameDigest(a: { algorithm: string; hex: string } | undefined, b: { algorithm: string; hex: string } | undefined): boolean {
  return !!a && !!b && a.algorithm === b.algorithm && a.hex === b.hex;
}
