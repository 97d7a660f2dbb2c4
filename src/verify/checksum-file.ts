// sha256sum / sha512sum output ("HEX  NAME" or "HEX *NAME"), and BSD style
// ("SHA256 (NAME) = HEX"). Pure.

import { digestFromHex, type ExpectedDigest } from "./digest.ts";

export function parseChecksumFile(text: string, names: string[]): ExpectedDigest | undefined {
  const rows: { name: string; hex: string }[] = [];
  for (const raw of text.split(/\r?\n/)) {
    const line = raw.trim();
    if (!line || line.startsWith("#")) continue;
    let m = /^([0-9a-fA-F]{64}|[0-9a-fA-F]{128})(?:\s+\*?(.+))?$/.exec(line);
    if (m) {
      rows.push({ hex: m[1].toLowerCase(), name: (m[2] ?? "").trim() });
      continue;
    }
    m = /^SHA(?:256|512)\s*\((.+)\)\s*=\s*([0-9a-fA-F]+)$/.exec(line);
    if (m) rows.push({ hex: m[2].toLowerCase(), name: m[1] });
  }
  const base = (n: string) => n.replace(/^\.\//, "").split("/").pop() ?? n;
  const pick = rows.find((r) => names.some((n) => n && base(r.name) === n)) ?? (rows.length === 1 ? rows[0] : undefined);
  return pick && digestFromHex(pick.hex);
}
