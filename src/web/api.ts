import { createClient, type Client, type Interceptor } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-web";
import { Flows, Statistics } from "../gen/goldmane/api_pb.js";

/** The request header carrying a session token (binary metadata, so its value is base64). */
export const SESSION_HEADER = "tributary-session-bin";

const STORAGE_KEY = "tributary.sessionToken";

/** Standard or URL-safe base64, padded or not (gRPC accepts both for `-bin` metadata). */
const BASE64 = /^[A-Za-z0-9+/_-]+={0,2}$/;

/** The session token kept for this browser tab (sessionStorage: gone when the tab closes). */
export function getToken(): string {
  try {
    return sessionStorage.getItem(STORAGE_KEY) ?? "";
  } catch {
    return "";
  }
}

/**
 * Stores (or, with an empty string, forgets) the session token. Throws when the value is not
 * base64, because a `-bin` header with anything else is rejected by every gRPC implementation.
 */
export function setToken(value: string): void {
  const token = value.replace(/\s+/g, "");
  if (token === "") {
    sessionStorage.removeItem(STORAGE_KEY);
    return;
  }
  if (!BASE64.test(token)) throw new Error("the session token must be base64 (as printed by the token issuer)");
  sessionStorage.setItem(STORAGE_KEY, token);
}

/** Adds the stored session token to every call, read per call so a new token applies at once. */
export const sessionTokenInterceptor: Interceptor = (next) => async (req) => {
  const token = getToken();
  if (token !== "") req.header.set(SESSION_HEADER, token);
  return next(req);
};

/** The clients the UI uses: Connect protocol, same origin as the page (no CORS needed). */
export interface Api {
  flows: Client<typeof Flows>;
  statistics: Client<typeof Statistics>;
}

/** Creates the API clients for a base URL (the page's origin). */
export function createApi(baseUrl: string): Api {
  const transport = createConnectTransport({ baseUrl, useBinaryFormat: true, interceptors: [sessionTokenInterceptor] });
  return { flows: createClient(Flows, transport), statistics: createClient(Statistics, transport) };
}
