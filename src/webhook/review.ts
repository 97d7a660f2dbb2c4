// One admission.k8s.io/v1 AdmissionReview in, its answer out. Pure. A Pod whose annotations
// carry download-package/url gets the same init container, volume and mounts as `inject`
// writes, as an RFC 6902 JSONPatch. Everything else is allowed unchanged; a bad annotation
// is refused with a message naming it (so no broken Pod is ever created).

import { parseExpectedDigest } from "../verify/digest.ts";
import { AppError } from "../errors.ts";
import { checkPodPatchOptions, closest } from "../inject/options.ts";
import { hasInitContainer, podSpecPatch, toJsonPatch, type PodPatchOptions } from "../inject/pod-spec.ts";

export const ANNOTATION_PREFIX = "download-package/";
export const ANNOTATIONS = { url: "download-package/url", sha256: "download-package/sha256", dest: "download-package/dest" } as const;

/** What the webhook itself decides: the same as inject's flags, minus what annotations say. */
export type WebhookInjectSettings = Pick<PodPatchOptions, "image" | "containerName" | "volumeName" | "mountPath" | "imagePullPolicy" | "sizeLimit">;

type Obj = Record<string, any>;

/** The request body is not an AdmissionReview: HTTP 400. */
export class BadReviewError extends Error {}

export interface Outcome {
  /** The AdmissionReview to send back. */
  body: Obj;
  /** For the log: patched, unchanged (and why), denied (and why). */
  result: "patched" | "unchanged" | "denied";
  reason: string;
}

function answer(uid: string, response: Obj): Obj {
  return { apiVersion: "admission.k8s.io/v1", kind: "AdmissionReview", response: { uid, ...response } };
}

class AnnotationError extends Error {}

/** The pod's download-package/* annotations as injection options; throws AnnotationError. */
export function optionsFromAnnotations(annotations: Record<string, string>, s: WebhookInjectSettings): PodPatchOptions | undefined {
  const ours = Object.keys(annotations).filter((k) => k.startsWith(ANNOTATION_PREFIX));
  const known: string[] = Object.values(ANNOTATIONS);
  for (const k of ours) {
    if (known.includes(k)) continue;
    const guess = closest(k, known);
    throw new AnnotationError(`unknown annotation ${k}${guess ? `: did you mean ${guess}?` : `: use ${known.join(", ")}`}`);
  }
  const url = annotations[ANNOTATIONS.url];
  if (url === undefined) {
    if (ours.length) throw new AnnotationError(`${ours.join(", ")} given without ${ANNOTATIONS.url}`);
    return undefined;
  }
  for (const u of url.trim().split(/[\s,]+/)) {
    // Anyone who can read the Pod reads its annotations and env: no credentials there.
    if (URL.canParse(u) && (new URL(u).username || new URL(u).password))
      throw new AnnotationError(`${ANNOTATIONS.url} carries credentials (user:password@): anyone who can read the Pod would see them; serve the package without user-info (e.g. a token read from a Secret file), or use inject --url-secret`);
  }
  const o: PodPatchOptions = { ...s, packageUrl: url.trim(), env: [], imagePullSecrets: [], mountInit: false };
  const sha = annotations[ANNOTATIONS.sha256];
  if (sha !== undefined) {
    parseExpectedDigest(sha, ANNOTATIONS.sha256);
    o.sha256 = sha.trim();
  }
  const dest = annotations[ANNOTATIONS.dest];
  if (dest !== undefined) {
    const root = s.mountPath.replace(/\/$/, "");
    if (!dest.startsWith(root + "/") || dest.split("/").includes(".."))
      throw new AnnotationError(`${ANNOTATIONS.dest} ${JSON.stringify(dest)} is not inside the shared volume ${root}: write a path under ${root}/`);
    o.dest = dest;
  }
  try {
    checkPodPatchOptions(o);
  } catch (e) {
    if (e instanceof AppError) throw new AnnotationError(`${ANNOTATIONS.url}: ${e.message}`);
    throw e;
  }
  return o;
}

export function review(body: unknown, s: WebhookInjectSettings): Outcome {
  const req = (body as Obj)?.request;
  if ((body as Obj)?.apiVersion !== "admission.k8s.io/v1" || (body as Obj)?.kind !== "AdmissionReview" || typeof req?.uid !== "string")
    throw new BadReviewError("the body is not an admission.k8s.io/v1 AdmissionReview with a request.uid");
  const uid: string = req.uid;
  const allow = (reason: string): Outcome => ({ body: answer(uid, { allowed: true }), result: "unchanged", reason });
  if (req.kind?.kind !== "Pod" || req.resource?.resource !== "pods" || req.subResource) return allow("not a Pod");
  if (req.operation !== "CREATE") return allow(`operation ${req.operation}`);
  const pod = req.object as Obj | undefined;
  if (!pod?.spec || !Array.isArray(pod.spec.containers)) throw new BadReviewError("request.object is not a Pod with spec.containers");
  let o: PodPatchOptions | undefined;
  try {
    o = optionsFromAnnotations(pod.metadata?.annotations ?? {}, s);
  } catch (e) {
    if (!(e instanceof AnnotationError) && !(e instanceof AppError)) throw e;
    const message = `download-package webhook: ${e.message}`;
    return { body: answer(uid, { allowed: false, status: { status: "Failure", code: 400, reason: "BadRequest", message } }), result: "denied", reason: message };
  }
  if (!o) return allow(`no ${ANNOTATIONS.url} annotation`);
  if (hasInitContainer(pod.spec, o.containerName)) return allow(`already has init container ${o.containerName}`);
  let ops;
  try {
    ops = podSpecPatch(pod.spec, o);
  } catch (e) {
    if (!(e instanceof AppError)) throw e;
    const message = `download-package webhook: ${e.message} (${e.hint})`;
    return { body: answer(uid, { allowed: false, status: { status: "Failure", code: 400, reason: "BadRequest", message } }), result: "denied", reason: message };
  }
  const patch = Buffer.from(JSON.stringify(toJsonPatch(ops, ["spec"]))).toString("base64");
  return { body: answer(uid, { allowed: true, patchType: "JSONPatch", patch }), result: "patched", reason: `${ops.length} operations` };
}
