import type { Core } from "./core.js";

/** Every web origin any client of any tenant lists: the CORS allow list (CORS origins are global). */
export function listCorsOrigins(core: Core): Promise<string[]> {
  return core.storage.clients.allWebOrigins();
}
