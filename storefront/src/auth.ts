// Sign-in with OpenID Connect: authorization code + PKCE (RFC 7636) for a public client, against
// Keycloak (Compose) or the local stack's provider. Tokens live in sessionStorage (this tab only);
// the access token goes to the gateway as `Authorization: Bearer`, which validates it.

const TOKENS_KEY = "storefront.tokens.v1";
const PENDING_KEY = "storefront.signin.v1";
export const CALLBACK_PATH = "/callback";

export interface Identity {
  subject: string;
  username: string;
  name: string;
  email: string | null;
  roles: string[];
}

interface Tokens {
  access_token: string;
  id_token?: string;
  expires_at: number; // epoch ms
}

interface Discovery {
  authorization_endpoint: string;
  token_endpoint: string;
  end_session_endpoint?: string;
}

interface Pending {
  state: string;
  verifier: string;
  returnTo: string;
  issuer: string;
  clientId: string;
}

function session(): Storage | null {
  return typeof sessionStorage === "undefined" ? null : sessionStorage;
}

function base64url(bytes: Uint8Array): string {
  let text = "";
  for (const b of bytes) text += String.fromCharCode(b);
  return btoa(text).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

function randomString(bytes = 32): string {
  return base64url(crypto.getRandomValues(new Uint8Array(bytes)));
}

export async function pkceChallenge(verifier: string): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(verifier));
  return base64url(new Uint8Array(digest));
}

/** The claims of a JWT, unverified: only to show who is signed in. The gateway verifies it. */
export function claimsOf(jwt: string): Record<string, unknown> {
  const part = jwt.split(".")[1] ?? "";
  const padded = part.replace(/-/g, "+").replace(/_/g, "/").padEnd(Math.ceil(part.length / 4) * 4, "=");
  try {
    const json = decodeURIComponent(
      Array.from(atob(padded), (c) => `%${c.charCodeAt(0).toString(16).padStart(2, "0")}`).join(""),
    );
    return JSON.parse(json) as Record<string, unknown>;
  } catch {
    return {};
  }
}

export function identityOf(accessToken: string): Identity {
  const c = claimsOf(accessToken);
  const realm = c.realm_access as { roles?: unknown } | undefined;
  const roles = Array.isArray(realm?.roles) ? realm.roles.filter((r): r is string => typeof r === "string") : [];
  const username = typeof c.preferred_username === "string" ? c.preferred_username : String(c.sub ?? "");
  return {
    subject: String(c.sub ?? ""),
    username,
    name: typeof c.name === "string" ? c.name : username,
    email: typeof c.email === "string" ? c.email : null,
    roles,
  };
}

function storedTokens(): Tokens | null {
  const raw = session()?.getItem(TOKENS_KEY);
  if (!raw) return null;
  try {
    const tokens = JSON.parse(raw) as Tokens;
    // A token about to expire is treated as gone: the gateway would refuse it mid-journey.
    if (typeof tokens.access_token !== "string" || tokens.expires_at < Date.now() + 30_000) {
      session()?.removeItem(TOKENS_KEY);
      return null;
    }
    return tokens;
  } catch {
    return null;
  }
}

export function getAccessToken(): string | null {
  return storedTokens()?.access_token ?? null;
}

export function currentIdentity(): Identity | null {
  const token = getAccessToken();
  return token ? identityOf(token) : null;
}

async function discover(issuer: string): Promise<Discovery> {
  const reply = await fetch(`${issuer.replace(/\/$/, "")}/.well-known/openid-configuration`);
  if (!reply.ok) throw new Error("The sign-in service is unavailable right now.");
  return (await reply.json()) as Discovery;
}

function redirectUri(): string {
  return `${location.origin}${CALLBACK_PATH}`;
}

/** Leaves the page for the provider's login; comes back to /callback. */
export async function signIn(issuer: string, clientId: string, returnTo: string): Promise<void> {
  const discovery = await discover(issuer);
  const pending: Pending = { state: randomString(16), verifier: randomString(48), returnTo, issuer, clientId };
  session()?.setItem(PENDING_KEY, JSON.stringify(pending));
  const url = new URL(discovery.authorization_endpoint);
  url.search = new URLSearchParams({
    response_type: "code",
    client_id: clientId,
    redirect_uri: redirectUri(),
    scope: "openid profile email",
    state: pending.state,
    code_challenge: await pkceChallenge(pending.verifier),
    code_challenge_method: "S256",
  }).toString();
  location.assign(url.toString());
}

/** On /callback: checks the state, trades the code (with the PKCE verifier) for tokens.
 *  Returns where the shopper was before signing in. */
export async function completeSignIn(params: URLSearchParams): Promise<string> {
  const raw = session()?.getItem(PENDING_KEY);
  session()?.removeItem(PENDING_KEY);
  const pending = raw ? (JSON.parse(raw) as Pending) : null;
  if (params.get("error")) throw new Error(`Sign-in was refused: ${params.get("error_description") ?? params.get("error")}.`);
  const code = params.get("code");
  if (!pending || !code || params.get("state") !== pending.state) {
    throw new Error("This sign-in link is stale or was not started here; please sign in again.");
  }
  const discovery = await discover(pending.issuer);
  const reply = await fetch(discovery.token_endpoint, {
    method: "POST",
    headers: { "content-type": "application/x-www-form-urlencoded" },
    body: new URLSearchParams({
      grant_type: "authorization_code",
      code,
      redirect_uri: redirectUri(),
      client_id: pending.clientId,
      code_verifier: pending.verifier,
    }),
  });
  if (!reply.ok) throw new Error("The sign-in service did not accept this sign-in; please try again.");
  const body = (await reply.json()) as { access_token: string; id_token?: string; expires_in?: number };
  const tokens: Tokens = {
    access_token: body.access_token,
    id_token: body.id_token,
    expires_at: Date.now() + (body.expires_in ?? 300) * 1000,
  };
  session()?.setItem(TOKENS_KEY, JSON.stringify(tokens));
  return pending.returnTo || "/";
}

/** Forgets the tokens here, then ends the provider's session and comes back to the shop. */
export async function signOut(issuer: string, clientId: string): Promise<void> {
  const idToken = storedTokens()?.id_token;
  session()?.removeItem(TOKENS_KEY);
  try {
    const discovery = await discover(issuer);
    if (discovery.end_session_endpoint) {
      const url = new URL(discovery.end_session_endpoint);
      url.searchParams.set("post_logout_redirect_uri", `${location.origin}/`);
      url.searchParams.set("client_id", clientId);
      if (idToken) url.searchParams.set("id_token_hint", idToken);
      location.assign(url.toString());
      return;
    }
  } catch {
    // The provider is away: signed out here is what matters.
  }
  location.assign("/");
}
