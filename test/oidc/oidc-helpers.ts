import * as oidc from "openid-client";
import { createApplication, createClient, createUser } from "../helpers/fixtures.js";
import type { TestServer } from "../helpers/server.js";

export const REDIRECT_URI = "https://rp.example/callback";
export const POST_LOGOUT_URI = "https://rp.example/signed-out";

/** A minimal browser over fetch: a cookie jar, no automatic redirects. */
export class CookieBrowser {
  readonly cookies = new Map<string, string>();
  constructor(readonly base: string) {}

  private remember(res: Response): void {
    for (const line of res.headers.getSetCookie()) {
      const [pair, ...attrs] = line.split(";");
      const eq = pair!.indexOf("=");
      const name = pair!.slice(0, eq).trim();
      const expired = attrs.some((a) => a.trim().toLowerCase() === "max-age=0");
      if (expired) this.cookies.delete(name);
      else this.cookies.set(name, pair!.slice(eq + 1));
    }
  }

  private headers(): Record<string, string> {
    return this.cookies.size === 0 ? {} : { cookie: [...this.cookies].map(([k, v]) => `${k}=${v}`).join("; ") };
  }

  async get(url: string): Promise<Response> {
    const res = await fetch(new URL(url, this.base), { redirect: "manual", headers: this.headers() });
    this.remember(res);
    return res;
  }

  async post(url: string, form: Record<string, string>): Promise<Response> {
    const res = await fetch(new URL(url, this.base), {
      method: "POST",
      redirect: "manual",
      headers: { ...this.headers(), "content-type": "application/x-www-form-urlencoded" },
      body: new URLSearchParams(form),
    });
    this.remember(res);
    return res;
  }
}

/** The value of a hidden form field in a hosted page. */
export function hiddenField(page: string, name: string): string {
  const m = new RegExp(`name="${name}" value="([^"]*)"`).exec(page);
  if (m === null) throw new Error(`no ${name} field in page: ${page.slice(0, 400)}`);
  return m[1]!;
}

export interface LoginOptions {
  username: string;
  password: string;
  /** Press Allow (default), Deny, or expect no consent screen at all ("skip"). */
  consent?: "allow" | "deny" | "skip";
}

/**
 * Drives the hosted pages from an authorization URL to the redirect back to the client,
 * returning that final Location (the client's redirect URI with code or error).
 */
export async function completeLogin(browser: CookieBrowser, authorizationUrl: string, opts: LoginOptions): Promise<URL> {
  let res = await browser.get(authorizationUrl);
  if (res.status !== 303) throw new Error(`authorization answered ${res.status}: ${await res.text()}`);
  let location = res.headers.get("location")!;
  if (location.startsWith("/oidc/interaction")) {
    let page = await (await browser.get(location)).text();
    if (page.includes('action="/oidc/interaction/login"')) {
      res = await browser.post("/oidc/interaction/login", {
        interaction: hiddenField(page, "interaction"),
        csrf: hiddenField(page, "csrf"),
        username: opts.username,
        password: opts.password,
      });
      if (res.status !== 303) throw new Error(`login answered ${res.status}`);
      location = res.headers.get("location")!;
      if (location.startsWith("/oidc/interaction")) page = await (await browser.get(location)).text();
    }
    if (location.startsWith("/oidc/interaction")) {
      if (opts.consent === "skip") throw new Error("a consent screen was shown");
      res = await browser.post("/oidc/interaction/consent", {
        interaction: hiddenField(page, "interaction"),
        csrf: hiddenField(page, "csrf"),
        decision: opts.consent ?? "allow",
      });
      if (res.status !== 303) throw new Error(`consent answered ${res.status}`);
      location = res.headers.get("location")!;
    }
  }
  return new URL(location, browser.base);
}

export interface RelyingParty {
  appId: string;
  clientId: string;
  clientSecret: string;
  username: string;
  password: string;
  userId: string;
  config: oidc.Configuration;
}

/** An application with a confidential client registered for the RP's URIs, a user of it, and openid-client's configuration. */
export async function relyingParty(server: TestServer, opts: { public?: boolean; scopes?: string[] } = {}): Promise<RelyingParty> {
  const appId = await createApplication(server.app, { displayName: "Example RP" });
  const { clientId, clientSecret } = await createClient(server.app, appId, {
    public: opts.public ?? false,
    redirectUris: [REDIRECT_URI],
    postLogoutRedirectUris: [POST_LOGOUT_URI],
    scopes: opts.scopes ?? [],
  });
  const user = await createUser(server.app, { applicationIds: [appId], email: "ada@example.com" });
  const config = await oidc.discovery(
    new URL(server.httpUrl),
    clientId,
    undefined,
    opts.public ? oidc.None() : oidc.ClientSecretBasic(clientSecret),
    { execute: [oidc.allowInsecureRequests] },
  );
  return { appId, clientId, clientSecret, ...user, config };
}

/** An authorization URL with PKCE S256, state and nonce for the RP's registered redirect URI. */
export async function authorizationRequest(config: oidc.Configuration, params: Record<string, string>) {
  const verifier = oidc.randomPKCECodeVerifier();
  const state = oidc.randomState();
  const nonce = oidc.randomNonce();
  const url = oidc.buildAuthorizationUrl(config, {
    redirect_uri: REDIRECT_URI,
    code_challenge: await oidc.calculatePKCECodeChallenge(verifier),
    code_challenge_method: "S256",
    state,
    nonce,
    ...params,
  });
  return { url, verifier, state, nonce };
}

/** The whole flow as the RP sees it: authorization URL, hosted pages, code exchange validated by openid-client. */
export async function signIn(server: TestServer, rp: RelyingParty, params: Record<string, string>, browser = new CookieBrowser(server.httpUrl)) {
  const { url, verifier, state, nonce } = await authorizationRequest(rp.config, params);
  const callback = await completeLogin(browser, url.href, { username: rp.username, password: rp.password });
  const tokens = await oidc.authorizationCodeGrant(rp.config, callback, { pkceCodeVerifier: verifier, expectedState: state, expectedNonce: nonce });
  return { tokens, nonce, callback };
}
