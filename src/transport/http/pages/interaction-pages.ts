import { html, type Html } from "./render.js";

/** What each OIDC scope means, in words for the consent screen. */
const SCOPE_TEXT: Record<string, string> = {
  openid: "Sign you in and know who you are",
  profile: "See your username",
  email: "See your email address",
  offline_access: "Stay connected when you are not using it (refresh tokens)",
};

export interface LoginView {
  /** The issuer's path: forms post under it, which works directly and behind a proxy that strips it. */
  base: string;
  interactionId: string;
  csrf: string;
  clientName: string;
  username?: string | undefined;
  error?: string | undefined;
}

export function loginForm(v: LoginView): Html {
  const error = v.error === undefined ? undefined : html`<p class="error" role="alert" id="login-error">${v.error}</p>`;
  return html`<h1>Sign in</h1>
<p class="client">to continue to <strong>${v.clientName}</strong></p>
${error}
<form method="post" action="${v.base}/oidc/interaction/login">
<input type="hidden" name="interaction" value="${v.interactionId}">
<input type="hidden" name="csrf" value="${v.csrf}">
<label for="username">Username</label>
<input type="text" id="username" name="username" autocomplete="username" autocapitalize="none" spellcheck="false" required value="${v.username ?? ""}"${v.error === undefined ? undefined : html` aria-describedby="login-error"`}>
<label for="password">Password</label>
<input type="password" id="password" name="password" autocomplete="current-password" required>
<button type="submit">Sign in</button>
</form>`;
}

export interface ConsentView {
  base: string;
  interactionId: string;
  csrf: string;
  clientName: string;
  username: string;
  scopes: string[];
  resource: string;
}

export function consentForm(v: ConsentView): Html {
  const items = v.scopes.map((s) => html`<li>${SCOPE_TEXT[s] ?? s} <code>${s}</code></li>`);
  return html`<h1>Allow access?</h1>
<p class="client"><strong>${v.clientName}</strong> asks, as <strong>${v.username}</strong>, to:</p>
<ul class="scopes" aria-label="Requested permissions">
${items}
</ul>
<p>for the resource <code>${v.resource}</code>.</p>
<form method="post" action="${v.base}/oidc/interaction/consent">
<input type="hidden" name="interaction" value="${v.interactionId}">
<input type="hidden" name="csrf" value="${v.csrf}">
<button type="submit" name="decision" value="allow">Allow</button>
<button type="submit" name="decision" value="deny" class="secondary">Deny</button>
</form>`;
}

export function loggedOut(): Html {
  return html`<h1>Signed out</h1>
<p>You have been signed out. You can close this window.</p>`;
}

export interface LogoutConfirmView {
  base: string;
  csrf: string;
  clientId: string | undefined;
  postLogoutRedirectUri: string | undefined;
  state: string | undefined;
  clientName: string | undefined;
}

export function logoutConfirm(v: LogoutConfirmView): Html {
  const hidden = (name: string, value: string | undefined) =>
    value === undefined ? undefined : html`<input type="hidden" name="${name}" value="${value}">`;
  const from = v.clientName === undefined ? undefined : html`<p class="client">requested by <strong>${v.clientName}</strong></p>`;
  return html`<h1>Sign out?</h1>
${from}
<p>Do you want to sign out?</p>
<form method="post" action="${v.base}/oidc/session/end/confirm">
<input type="hidden" name="csrf" value="${v.csrf}">
${hidden("client_id", v.clientId)}
${hidden("post_logout_redirect_uri", v.postLogoutRedirectUri)}
${hidden("state", v.state)}
<button type="submit" name="decision" value="logout">Sign out</button>
<button type="submit" name="decision" value="stay" class="secondary">Stay signed in</button>
</form>`;
}

export function stillSignedIn(): Html {
  return html`<h1>Still signed in</h1>
<p>You have not been signed out. You can close this window.</p>`;
}
