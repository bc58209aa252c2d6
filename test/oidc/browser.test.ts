import { mkdirSync } from "node:fs";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import type { Browser } from "playwright-core";
import { afterAll, beforeAll, expect, it } from "vitest";
import { createApplication, createClient, createUser } from "../helpers/fixtures.js";
import { describeWithBrowser, launchChromium } from "../helpers/browser.js";
import { postForm, startServer, type TestServer } from "../helpers/server.js";

const OUTPUT = "test-output";

describeWithBrowser("hosted login and consent in headless Chromium", () => {
  let server: TestServer;
  let browser: Browser;
  let rp: Server;
  let redirectUri: string;
  const received: URL[] = [];

  beforeAll(async () => {
    mkdirSync(OUTPUT, { recursive: true });
    rp = createServer((req, res) => {
      const url = new URL(req.url ?? "/", "http://rp.local");
      if (url.pathname === "/callback") received.push(url);
      res.writeHead(200, { "content-type": "text/plain" });
      res.end("signed in");
    });
    await new Promise<void>((resolve) => rp.listen(0, "127.0.0.1", resolve));
    redirectUri = `http://127.0.0.1:${(rp.address() as AddressInfo).port}/callback`;
    server = await startServer();
    browser = await launchChromium();
  });
  afterAll(async () => {
    await browser?.close();
    await new Promise((resolve) => rp.close(resolve));
    await server.dispose();
  });

  it("logs in, consents and lands on the client's redirect_uri with a code that exchanges", async () => {
    const appId = await createApplication(server.app, { displayName: "Browser RP" });
    const { clientId, clientSecret } = await createClient(server.app, appId, { redirectUris: [redirectUri], displayName: "Browser RP" });
    const user = await createUser(server.app, { applicationIds: [appId] });
    const page = await browser.newPage();
    const cspViolations: string[] = [];
    page.on("console", (msg) => {
      if (/Content Security Policy/i.test(msg.text())) cspViolations.push(msg.text());
    });
    const auth = new URL(`${server.httpUrl}/oidc/auth`);
    auth.search = new URLSearchParams({ client_id: clientId, redirect_uri: redirectUri, response_type: "code", scope: "openid profile offline_access", prompt: "consent", state: "xyz" }).toString();

    await page.goto(auth.href);
    await page.getByLabel("Username").fill(user.username);
    await page.getByLabel("Password").fill("not the password");
    await page.getByRole("button", { name: "Sign in" }).click();
    expect(await page.getByRole("alert").innerText()).toBe("Wrong username or password.");
    await page.screenshot({ path: `${OUTPUT}/oidc-login-error.png` });

    await page.getByLabel("Password").fill(user.password);
    await page.screenshot({ path: `${OUTPUT}/oidc-login.png` });
    await page.getByRole("button", { name: "Sign in" }).click();
    await page.getByRole("heading", { name: "Allow access?" }).waitFor();
    const listed = await page.getByRole("list", { name: "Requested permissions" }).innerText();
    expect(listed).toContain("offline_access");
    expect(listed).toContain("profile");
    await page.screenshot({ path: `${OUTPUT}/oidc-consent.png` });

    await page.getByRole("button", { name: "Allow" }).click();
    await page.waitForURL((url) => url.href.startsWith(redirectUri));
    await page.screenshot({ path: `${OUTPUT}/oidc-redirect.png` });
    const landed = received.at(-1)!;
    expect(landed.searchParams.get("state")).toBe("xyz");
    expect(landed.searchParams.get("iss")).toBe(server.httpUrl);
    const code = landed.searchParams.get("code")!;
    const res = await postForm(`${server.httpUrl}/oidc/token`, { grant_type: "authorization_code", code, redirect_uri: redirectUri }, server.basic(clientId, clientSecret));
    const tokens = (await res.json()) as Record<string, string>;
    expect(res.status).toBe(200);
    expect(tokens.refresh_token).toEqual(expect.any(String));

    const cookies = await page.context().cookies(server.httpUrl);
    const session = cookies.find((c) => c.name === "tessera_session")!;
    expect(session).toMatchObject({ httpOnly: true, sameSite: "Lax", path: "/" });
    expect(cspViolations).toEqual([]);

    // The remembered session and consent: straight back to the client, no page shown.
    await page.goto(auth.href.replace("prompt=consent", "prompt=none"));
    await page.waitForURL((url) => url.href.startsWith(redirectUri));
    expect(received.at(-1)!.searchParams.get("code")).toEqual(expect.any(String));
    await page.close();
  });
});
