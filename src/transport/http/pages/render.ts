import { randomBytes } from "node:crypto";
import type { ServerResponse } from "node:http";

/** Escapes text for HTML element content and double-quoted attribute values. */
export function escapeHtml(value: string): string {
  return value.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

/** Tagged template: interpolated strings are escaped, `Html` values (already safe) are not. */
export class Html {
  constructor(readonly text: string) {}
}
export function html(strings: TemplateStringsArray, ...values: (string | number | Html | Html[] | undefined)[]): Html {
  let out = strings[0]!;
  values.forEach((v, i) => {
    if (v instanceof Html) out += v.text;
    else if (Array.isArray(v)) out += v.map((h) => h.text).join("");
    else if (v !== undefined) out += escapeHtml(String(v));
    out += strings[i + 1]!;
  });
  return new Html(out);
}

const STYLE = `
:root{color-scheme:light dark;--accent:#2457c5;--muted:#666;--border:#ccc;--error:#b00020}
*{box-sizing:border-box}
body{margin:0;font:16px/1.5 system-ui,-apple-system,"Segoe UI",sans-serif;background:#f4f5f7;color:#1b1b1b}
main{max-width:26rem;margin:8vh auto;padding:2rem;background:#fff;border:1px solid var(--border);border-radius:.5rem}
h1{font-size:1.35rem;margin:0 0 1rem}
p.client{color:var(--muted);margin-top:-.5rem}
label{display:block;font-weight:600;margin:1rem 0 .25rem}
input[type=text],input[type=password]{width:100%;padding:.6rem;font:inherit;border:1px solid var(--border);border-radius:.3rem}
input:focus,button:focus{outline:3px solid #8fb0ff;outline-offset:1px}
button{font:inherit;padding:.6rem 1.2rem;border-radius:.3rem;border:1px solid var(--accent);background:var(--accent);color:#fff;cursor:pointer;margin-top:1.25rem}
button.secondary{background:transparent;color:var(--accent);margin-left:.5rem}
.error{color:var(--error);border-left:4px solid var(--error);padding:.25rem .75rem;background:#fdecee}
ul.scopes{padding-left:1.2rem}
code{font-size:.9em;overflow-wrap:anywhere}
li code{white-space:nowrap}
@media (prefers-color-scheme:dark){body{background:#15171a;color:#e8e8e8}main{background:#1f2226;border-color:#3a3d42}.error{background:#3a1d22}}
`;

export interface PageOptions {
  title: string;
  status?: number;
  body: Html;
  /** Origins besides 'self' a form on the page may lead to (the client's redirect origin). */
  formTargets?: string[];
  cookies?: string[];
}

/**
 * Sends a hosted page: no script at all, the stylesheet inline under a per-response nonce,
 * never framed, never cached, no referrer leaking the query.
 */
export function sendPage(res: ServerResponse, opts: PageOptions): void {
  const nonce = randomBytes(16).toString("base64");
  const formAction = ["'self'", ...(opts.formTargets ?? [])].join(" ");
  const doc = html`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${opts.title}</title>
<style nonce="${nonce}">${new Html(STYLE)}</style>
</head>
<body>
<main>
${opts.body}
</main>
</body>
</html>
`.text;
  const headers: Record<string, string | string[]> = {
    "Content-Type": "text/html; charset=utf-8",
    "Content-Length": String(Buffer.byteLength(doc)),
    "Content-Security-Policy": `default-src 'none'; style-src 'nonce-${nonce}'; form-action ${formAction}; frame-ancestors 'none'; base-uri 'none'`,
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Cache-Control": "no-store",
    Pragma: "no-cache",
    "Referrer-Policy": "no-referrer",
  };
  if (opts.cookies !== undefined && opts.cookies.length > 0) headers["Set-Cookie"] = opts.cookies;
  res.writeHead(opts.status ?? 200, headers);
  res.end(doc);
}

export function errorPage(res: ServerResponse, status: number, message: string): void {
  sendPage(res, {
    title: "Sign-in error",
    status,
    body: html`<h1>Something went wrong</h1>
<p class="error" role="alert">${message}</p>`,
  });
}
