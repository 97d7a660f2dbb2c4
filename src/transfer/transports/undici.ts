import { Agent, ProxyAgent, request, type Dispatcher } from "undici";
import { flattenHeaders, type Transport, type TransportRequest, type TransportResponse } from "./types.ts";

function tlsOptions(req: TransportRequest) {
  return { ca: req.tls.ca, cert: req.tls.cert, key: req.tls.key, rejectUnauthorized: !req.tls.insecure };
}

export function undiciTransport(): Transport {
  const dispatchers = new Map<string, Dispatcher>();
  const dispatcherFor = (req: TransportRequest): Dispatcher => {
    const key = req.proxy?.href ?? "";
    let d = dispatchers.get(key);
    if (!d) {
      // Our own idle timer (src/fetch.ts) covers headers and body for every transport alike.
      const common = { headersTimeout: 0, bodyTimeout: 0, connect: { timeout: req.connectTimeoutMs, ...tlsOptions(req) } };
      d = req.proxy
        ? new ProxyAgent({ uri: req.proxy.href, requestTls: tlsOptions(req), proxyTls: tlsOptions(req), headersTimeout: 0, bodyTimeout: 0 })
        : new Agent({ ...common, highWaterMark: 256 * 1024 } as Agent.Options);
      dispatchers.set(key, d);
    }
    return d;
  };
  return {
    name: "undici",
    available: () => true,
    async request(req): Promise<TransportResponse> {
      const res = await request(req.url, { method: "GET", headers: req.headers, signal: req.signal, dispatcher: dispatcherFor(req) });
      return { status: res.statusCode, headers: flattenHeaders(res.headers), body: res.body };
    },
  };
}
