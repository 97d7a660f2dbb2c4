// The package's line in a published checksum file (PACKAGE_CHECKSUM_URL): the row naming the
// package's file (by base name), or the only row. Pure.

import { digestFromHex, type ExpectedDigest } from "./digest.ts";
import { parseSumsLoose } from "./sums.ts";

export function parseChecksumFile(text: string, names: string[]): ExpectedDigest | undefined {
  const rows = parseSumsLoose(text);
  const base = (n: string) => n.replace(/^\.\//, "").split("/").pop() ?? n;
  const pick = rows.find((r) => names.some((n) => n && base(r.name) === n)) ?? (rows.length === 1 ? rows[0] : undefined);
  return pick && digestFromHex(pick.hex);
}
