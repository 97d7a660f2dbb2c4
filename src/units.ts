// Pure parsers and formatters for the human units used in flags and logs.

const DURATION = /^(\d+(?:\.\d+)?)(ms|s|m|h)?$/;
/** "30s", "5m", "1.5h", "250ms"; a bare number is seconds. Returns milliseconds or undefined. */
export function parseDuration(text: string): number | undefined {
  const m = DURATION.exec(text.trim());
  if (!m) return undefined;
  const n = Number(m[1]);
  const unit = m[2] ?? "s";
  const factor = unit === "ms" ? 1 : unit === "s" ? 1000 : unit === "m" ? 60_000 : 3_600_000;
  return Math.round(n * factor);
}

const SIZE = /^(\d+(?:\.\d+)?)\s*(b|k|kb|kib|m|mb|mib|g|gb|gib|t|tb|tib)?$/i;
/** "512MiB", "10G", "1048576"; binary multiples (K = 1024). Returns bytes or undefined. */
export function parseSize(text: string): number | undefined {
  const m = SIZE.exec(text.trim());
  if (!m) return undefined;
  const n = Number(m[1]);
  const u = (m[2] ?? "b").toLowerCase()[0];
  const pow = u === "b" ? 0 : u === "k" ? 1 : u === "m" ? 2 : u === "g" ? 3 : 4;
  return Math.round(n * 1024 ** pow);
}

export function formatBytes(n: number): string {
  if (n < 1024) return `${Math.round(n)} B`;
  const units = ["KiB", "MiB", "GiB", "TiB"];
  let v = n;
  let i = -1;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${v.toFixed(v < 10 ? 2 : 1)} ${units[i]}`;
}

export function formatSeconds(ms: number): string {
  return `${(ms / 1000).toFixed(ms < 10_000 ? 2 : 1)}s`;
}
