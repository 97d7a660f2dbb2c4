// HTTP_PROXY / HTTPS_PROXY / NO_PROXY (either case, lower case first as curl does). Pure.

export function proxyFor(url: URL, env: NodeJS.ProcessEnv): URL | undefined {
  const get = (name: string) => env[name.toLowerCase()] ?? env[name.toUpperCase()];
  const raw = url.protocol === "https:" ? get("https_proxy") : get("http_proxy");
  if (!raw) return undefined;
  if (bypassed(url, get("no_proxy") ?? "")) return undefined;
  try {
    return new URL(raw.includes("://") ? raw : `http://${raw}`);
  } catch {
    return undefined;
  }
}

export function bypassed(url: URL, noProxy: string): boolean {
  const host = url.hostname.replace(/^\[|\]$/g, "").toLowerCase();
  const port = url.port || (url.protocol === "https:" ? "443" : "80");
  for (let entry of noProxy.split(/[\s,]+/).filter(Boolean)) {
    entry = entry.toLowerCase();
    if (entry === "*") return true;
    let entryPort: string | undefined;
    const m = /^(.*):(\d+)$/.exec(entry);
    if (m && !entry.startsWith("[") && entry.split(":").length === 2) [entry, entryPort] = [m[1], m[2]];
    entry = entry.replace(/^\[|\]$/g, "");
    if (entryPort && entryPort !== port) continue;
    if (entry.includes("/") && cidrContains(entry, host)) return true;
    const bare = entry.replace(/^\*?\./, "");
    if (host === bare || host.endsWith(`.${bare}`)) return true;
  }
  return false;
}

function cidrContains(cidr: string, host: string): boolean {
  const [net, bitsText] = cidr.split("/");
  const a = ipv4(net);
  const b = ipv4(host);
  if (a === undefined || b === undefined) return false;
  const bits = Number(bitsText);
  const mask = bits === 0 ? 0 : (~0 << (32 - bits)) >>> 0;
  return (a & mask) === (b & mask);
}

function ipv4(s: string): number | undefined {
  const p = s.split(".");
  if (p.length !== 4 || p.some((x) => !/^\d+$/.test(x) || Number(x) > 255)) return undefined;
  return p.reduce((n, x) => (n << 8) + Number(x), 0) >>> 0;
}
