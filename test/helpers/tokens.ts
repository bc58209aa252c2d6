import { createRemoteJWKSet, jwtVerify, type JWTPayload } from "jose";
import { expect } from "vitest";
import type { TestServer } from "./server.js";

/** Verifies an access token against the server's JWKS as a resource server would (RFC 9068). */
export async function verifyAccessToken(server: TestServer, token: string, audience = "userid-api"): Promise<JWTPayload> {
  const jwks = createRemoteJWKSet(new URL(`${server.httpUrl}/oidc/jwks`));
  const { payload, protectedHeader } = await jwtVerify(token, jwks, {
    issuer: server.httpUrl,
    audience,
    typ: "at+jwt",
    currentDate: new Date(server.clock.ms),
  });
  const { keys } = (await (await fetch(`${server.httpUrl}/oidc/jwks`)).json()) as { keys: { kid: string }[] };
  expect(keys.map((k) => k.kid)).toContain(protectedHeader.kid);
  return payload;
}

/**
 * Keeps every chain rotating as fast as it can: each 200's refresh_token is appended to its chain. `until(n)`
 * waits (by count, not wall time: CI may be slow; at most 20 s) for n rotations in all; `stop()` ends the load
 * (call it before killing the server), after which failures are expected; `done` fails on any failure before.
 */
export function rotateChains(chains: string[][], refresh: (token: string) => Promise<Response>) {
  let stopped = false;
  const drive = async (chain: string[]) => {
    while (!stopped) {
      try {
        const res = await refresh(chain.at(-1)!);
        const body = (await res.json()) as { refresh_token?: string };
        if (res.status !== 200) throw new Error(`refresh answered ${res.status}: ${JSON.stringify(body)}`);
        chain.push(body.refresh_token!);
      } catch (err) {
        if (stopped) return;
        throw err;
      }
    }
  };
  const done = Promise.all(chains.map(drive));
  const rotated = () => chains.reduce((n, c) => n + c.length - 1, 0);
  return {
    done,
    rotated,
    async until(count: number): Promise<void> {
      for (let waited = 0; rotated() < count && waited < 20_000; waited += 25) await new Promise((r) => setTimeout(r, 25));
    },
    stop(): void {
      stopped = true;
    },
  };
}
