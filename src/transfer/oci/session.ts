// One registry and repository: requests with the Authorization that works there, found the
// way registries expect it: anonymous or preemptive Basic first; on 401, the challenge's
// Basic, or the bearer token dance (GET realm?service=…&scope=repository:REPO:ACTIONS).

import { DownloadError } from "../../errors.ts";
import { redactUrl } from "../../redact.ts";
import type { AuthProvider } from "../origin-headers.ts";
import { basicHeader, bearerFromFile, parseChallenge, type Challenge, type Credentials } from "./auth.ts";
import type { HttpAnswer, HttpRequest, RegistryHttp } from "./http.ts";
import { registryBase, type OciReference } from "./reference.ts";

export type Actions = "pull" | "pull,push";

/** How the session authenticated: what the blob download may reuse, and for which origin only. */
export type AuthState = { kind: "none" } | { kind: "basic"; header: string } | { kind: "token-file" } | { kind: "bearer"; header: string };

const LOGIN_HINT = "check the registry credentials: PACKAGE_REGISTRY_CONFIG (an entry for this host), PACKAGE_BASIC_AUTH_FILE or PACKAGE_TOKEN_FILE (push: REGISTRY_USERNAME with REGISTRY_PASSWORD_FILE)";

/** Also the blob transfer's AuthProvider for this registry: its own token, renewed when it expires. */
export class RegistrySession implements AuthProvider {
  readonly base: string;
  readonly ref: OciReference;
  private auth: AuthState;
  /** The last Bearer challenge: a 401 relayed without its WWW-Authenticate still renews the token. */
  private challenge?: Challenge;
  private readonly creds: Credentials;
  private readonly http: RegistryHttp;
  private readonly opts: { plainHttp: boolean; actions: Actions };
  constructor(ref: OciReference, creds: Credentials, http: RegistryHttp, opts: { plainHttp: boolean; actions: Actions }) {
    [this.ref, this.creds, this.http, this.opts] = [ref, creds, http, opts];
    this.base = registryBase(ref, opts.plainHttp);
    this.auth = creds.kind === "basic" ? { kind: "basic", header: basicHeader(creds) } : creds.kind === "token" ? { kind: "token-file" } : { kind: "none" };
  }

  get authState(): AuthState {
    return this.auth;
  }

  /** A URL of this registry: "/v2/REPO/…", or an upload Location the registry returned. */
  url(pathOrLocation: string): URL {
    return new URL(pathOrLocation, this.base);
  }

  /** The Authorization for this registry's origin now (a token file is re-read every time). */
  authorization(): string | undefined {
    switch (this.auth.kind) {
      case "basic":
      case "bearer":
        return this.auth.header;
      case "token-file":
        return bearerFromFile((this.creds as { file: string }).file);
      case "none":
        return undefined;
    }
  }

  private refused(res: HttpAnswer, why: string): DownloadError {
    return new DownloadError(`the registry ${this.ref.registry}${why} (HTTP ${res.status}) for ${this.ref.repository}`, { status: res.status, retryable: false, hint: LOGIN_HINT });
  }

  /** Same-origin only: credentials are never sent to a URL of another host. */
  async send(r: HttpRequest): Promise<HttpAnswer> {
    const sameOrigin = r.url.origin === new URL(this.base).origin;
    const withAuth = (): HttpRequest => {
      const a = sameOrigin ? this.authorization() : undefined;
      return { ...r, headers: { ...r.headers, ...(a ? { authorization: a } : {}) } };
    };
    const res = await this.http.send(withAuth());
    if (res.status !== 401 || !sameOrigin) return res;
    if (!(await this.refresh(res.headers["www-authenticate"]))) throw this.refused(res, this.auth.kind === "none" ? " requires a login" : " refused the credentials");
    const again = await this.http.send(withAuth());
    if (again.status === 401) throw this.refused(again, " refused the credentials");
    return again;
  }

  /**
   * The registry answered 401: a new token by its Bearer challenge (also when one was held: it
   * expired), or Basic when it asks for it and we have it. False: nothing new to try.
   */
  async refresh(wwwAuthenticate: string | undefined): Promise<boolean> {
    const challenge = parseChallenge(wwwAuthenticate) ?? this.challenge;
    if (challenge?.scheme === "bearer" && this.auth.kind !== "token-file") {
      this.challenge = challenge;
      this.auth = { kind: "bearer", header: await this.fetchToken(challenge.params) };
      return true;
    }
    if (challenge?.scheme === "basic" && this.auth.kind === "none" && this.creds.kind === "basic") {
      this.auth = { kind: "basic", header: basicHeader(this.creds) };
      return true;
    }
    return false;
  }

  private async fetchToken(params: Record<string, string>): Promise<string> {
    let realm: URL;
    try {
      realm = new URL(params.realm ?? "");
    } catch {
      throw new DownloadError(`the registry ${this.ref.registry} asked for a token without a usable realm`, { retryable: false, hint: "the registry's token auth is misconfigured (auth.token.realm)" });
    }
    if (realm.protocol !== "https:" && !(realm.protocol === "http:" && this.opts.plainHttp)) {
      throw new DownloadError(`the registry's token realm ${redactUrl(realm)} is not https`, { retryable: false, hint: "serve the token endpoint over https, or set PACKAGE_PLAIN_HTTP=true if plain HTTP is intended" });
    }
    if (params.service) realm.searchParams.set("service", params.service);
    realm.searchParams.set("scope", `repository:${this.ref.repository}:${this.opts.actions}`);
    const headers: Record<string, string> = { accept: "application/json" };
    if (this.creds.kind === "basic") headers.authorization = basicHeader(this.creds);
    const res = await this.http.send({ method: "GET", url: realm, headers, maxBody: 1024 * 1024 });
    if (res.status === 401 || res.status === 403) throw this.refused(res, this.creds.kind === "basic" ? "'s token service refused the credentials" : " requires a login (its token service refused anonymous access)");
    if (res.status !== 200) throw new DownloadError(`the token service ${realm.host} answered HTTP ${res.status}`, { status: res.status, retryable: false, hint: "the registry's token service is failing; try again later" });
    let token: unknown;
    try {
      const doc = JSON.parse(res.body.toString("utf8"));
      token = doc.token ?? doc.access_token;
    } catch {
      /* below */
    }
    if (typeof token !== "string" || !token) throw new DownloadError(`the token service ${realm.host} gave no token`, { retryable: false, hint: "the registry's token service is misconfigured" });
    return `Bearer ${token}`;
  }
}
