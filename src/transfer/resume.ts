// The resume rule, pure. Bytes from two versions of a package must never be joined:
// - resume only with a strong validator from the first response (an ETag that is not weak,
//   or a Last-Modified at least 60 s older than that response's Date: RFC 9110 §8.8.2.2),
//   sent as If-Range, to whichever mirror is asked next;
// - a 206 is accepted only when its validator equals the first response's and its
//   Content-Range starts at our offset and has the same total;
// - anything else (no validator, weak ETag, 200, a different 206) starts over from byte 0.

export interface Validator {
  /** The If-Range value: a strong ETag, or a strong Last-Modified date. */
  ifRange: string;
  kind: "etag" | "last-modified";
}

/** Everything the transfer knows about the bytes delivered so far. */
export interface ResumeState {
  /** Bytes delivered to the current sink, i.e. the next byte to ask for. */
  offset: number;
  /** Size of the whole package, when a response said it. */
  total?: number;
  /** The first response's strong validator; undefined = this transfer cannot be resumed. */
  validator?: Validator;
  /** The furthest offset ever reached (progress means passing it, not replaying it). */
  highWater: number;
}

export const freshState = (): ResumeState => ({ offset: 0, highWater: 0 });

export function parseContentRange(v: string | undefined): { start: number; end: number; total?: number } | undefined {
  const m = /^bytes\s+(\d+)-(\d+)\/(\d+|\*)$/i.exec(v?.trim() ?? "");
  if (!m) return undefined;
  return { start: Number(m[1]), end: Number(m[2]), total: m[3] === "*" ? undefined : Number(m[3]) };
}

const STRONG_LM_SECONDS = 60;

/** The strong validator of a first (200) response, if it has one. */
export function strongValidator(headers: Record<string, string>): Validator | undefined {
  const etag = headers.etag?.trim();
  if (etag && !/^W\//i.test(etag)) return { ifRange: etag, kind: "etag" };
  const lm = headers["last-modified"]?.trim();
  const date = headers.date?.trim();
  if (!lm || !date) return undefined;
  const [l, d] = [Date.parse(lm), Date.parse(date)];
  if (Number.isNaN(l) || Number.isNaN(d)) return undefined;
  return d - l >= STRONG_LM_SECONDS * 1000 ? { ifRange: lm, kind: "last-modified" } : undefined;
}

/** Range and If-Range for the next request, or undefined when it must start from byte 0. */
export function resumeHeaders(s: ResumeState): Record<string, string> | undefined {
  if (s.offset === 0 || !s.validator) return undefined;
  return { range: `bytes=${s.offset}-`, "if-range": s.validator.ifRange };
}

/** Whether bytes delivered so far can be kept for another request. */
export const canResume = (s: ResumeState): boolean => s.offset > 0 && s.validator !== undefined;

export type ResumeVerdict =
  | { kind: "fresh" }
  | { kind: "resume" }
  /** A 200 to a resumed request: start over, with this body. */
  | { kind: "restart-with-body"; reason: string }
  /** A 206 that does not continue our bytes: start over with a new request. */
  | { kind: "restart"; reason: string }
  /** A 206 nobody asked for: not usable. */
  | { kind: "reject"; reason: string };

/** Judge a 2xx answer against what was asked: keep appending, take it as a new start, or start over. */
export function judgeAnswer(s: ResumeState, asked: boolean, status: number, headers: Record<string, string>): ResumeVerdict {
  if (!asked) return status === 206 ? { kind: "reject", reason: "the server answered a range nobody asked for" } : { kind: "fresh" };
  if (status !== 206) return { kind: "restart-with-body", reason: "the server ignored the Range request or the content changed (If-Range)" };
  const v = s.validator!;
  const got = v.kind === "etag" ? headers.etag?.trim() : headers["last-modified"]?.trim();
  if (got !== v.ifRange) return { kind: "restart", reason: `the partial answer is another version (${v.kind} ${got ?? "missing"}, expected ${v.ifRange})` };
  const cr = parseContentRange(headers["content-range"]);
  if (!cr || cr.start !== s.offset) return { kind: "restart", reason: `the server answered a different range (${headers["content-range"] ?? "no Content-Range"}, asked from ${s.offset})` };
  if (cr.total === undefined || (s.total !== undefined && cr.total !== s.total)) return { kind: "restart", reason: `the partial answer has another total size (${headers["content-range"]}, expected ${s.total ?? "a known size"})` };
  return { kind: "resume" };
}

/** After a fresh (200) answer: what later requests may resume against. */
export function startedFresh(s: ResumeState, headers: Record<string, string>): ResumeState {
  const length = headers["content-length"] !== undefined ? Number(headers["content-length"]) : undefined;
  return { ...s, offset: 0, total: Number.isFinite(length) ? length : undefined, validator: strongValidator(headers) };
}

/** Back to byte 0 (the sink is replaced by the caller). */
export const restarted = (s: ResumeState): ResumeState => ({ ...s, offset: 0, total: undefined, validator: undefined });
