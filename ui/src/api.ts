// The one way the app talks to wharf: GraphQL over HTTP for queries and mutations,
// graphql-ws for subscriptions. Errors carry wharf's `extensions.code`.
import { print } from "graphql";
import type { TypedDocumentNode } from "@graphql-typed-document-node/core";
import { createClient, type Client } from "graphql-ws";

const SESSION_KEY = "wharf.session";
const OPERATOR_KEY = "wharf.operatorKey";

export type Session = { token: string; address: string; expiresAt: number };

export function loadSession(): Session | null {
  try {
    const raw = localStorage.getItem(SESSION_KEY);
    if (!raw) return null;
    const session = JSON.parse(raw) as Session;
    return session.expiresAt * 1000 > Date.now() ? session : null;
  } catch {
    return null;
  }
}

export function saveSession(session: Session | null) {
  if (session) localStorage.setItem(SESSION_KEY, JSON.stringify(session));
  else localStorage.removeItem(SESSION_KEY);
  resetSubscriptions();
}

export function operatorKey(): string | null {
  return localStorage.getItem(OPERATOR_KEY);
}

export function saveOperatorKey(key: string | null) {
  if (key) localStorage.setItem(OPERATOR_KEY, key);
  else localStorage.removeItem(OPERATOR_KEY);
  resetSubscriptions();
}

/** Who a request speaks as: the signed-in wallet, or the operator (Filecoin screens). */
export type Auth = "session" | "operator";

function bearer(auth: Auth): string | null {
  return auth === "operator" ? operatorKey() : (loadSession()?.token ?? null);
}

/** A GraphQL error as the user should read it. */
export class ApiError extends Error {
  code: string;
  constructor(message: string, code: string) {
    super(message);
    this.code = code;
  }
}

type GraphqlError = { message: string; extensions?: { code?: string } };

function toError(errors: GraphqlError[]): ApiError {
  const first = errors[0];
  return new ApiError(first?.message ?? "request failed", first?.extensions?.code ?? "ERROR");
}

export async function request<R, V extends Record<string, unknown>>(
  document: TypedDocumentNode<R, V>,
  variables?: V,
  auth: Auth = "session",
): Promise<R> {
  const headers: Record<string, string> = { "content-type": "application/json" };
  const token = bearer(auth);
  if (token) headers.authorization = `Bearer ${token}`;
  let response: Response;
  try {
    response = await fetch("/graphql", {
      method: "POST",
      headers,
      body: JSON.stringify({ query: print(document), variables: variables ?? {} }),
    });
  } catch {
    throw new ApiError("wharf cannot be reached", "NETWORK");
  }
  let body: { data?: R; errors?: GraphqlError[] };
  try {
    body = await response.json();
  } catch {
    throw new ApiError(`wharf answered ${response.status}`, "HTTP");
  }
  if (body.errors?.length) throw toError(body.errors);
  if (!body.data) throw new ApiError("empty answer", "HTTP");
  return body.data;
}

// One WebSocket per identity: a connection authenticates once, in `connection_init`.
const wsClients: Partial<Record<Auth, Client>> = {};

function resetSubscriptions() {
  for (const auth of ["session", "operator"] as const) {
    wsClients[auth]?.dispose();
    delete wsClients[auth];
  }
}

function ws(auth: Auth): Client {
  let client = wsClients[auth];
  if (!client) {
    const scheme = location.protocol === "https:" ? "wss" : "ws";
    client = createClient({
      url: `${scheme}://${location.host}/graphql/ws`,
      connectionParams: () => {
        const token = bearer(auth);
        return token ? { authorization: `Bearer ${token}` } : {};
      },
      retryAttempts: 5,
    });
    wsClients[auth] = client;
  }
  return client;
}

/** Subscribes; returns the function that ends the subscription. */
export function subscribe<R, V extends Record<string, unknown>>(
  document: TypedDocumentNode<R, V>,
  variables: V,
  onData: (data: R) => void,
  onError?: (error: ApiError) => void,
  auth: Auth = "session",
): () => void {
  return ws(auth).subscribe<R>(
    { query: print(document), variables },
    {
      next: (result) => {
        if (result.errors?.length) onError?.(toError(result.errors as GraphqlError[]));
        else if (result.data) onData(result.data as R);
      },
      error: () => onError?.(new ApiError("live updates stopped", "NETWORK")),
      complete: () => {},
    },
  );
}
