// Local OIDC provider for the devstack (docs/local-stack.md, "Identity"): oauth2-mock-server behind
// Keycloak's paths (/realms/<realm>/...) issuing Keycloak-shaped tokens for a demo realm.
// Development and tests only: the demo users and clients below are public knowledge.
//
//   node server.js --port 8081 --host 127.0.0.1 --realm ecommerce --jwk .local/dev/oidc/data/jwk.json
//
// The signing key is generated at first start into the --jwk file (never committed), so tokens
// and cached JWKS stay valid across restarts.
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { createServer } from "node:http";
import { dirname } from "node:path";
import { parseArgs } from "node:util";
import basicAuth from "basic-auth";
import { OAuth2Issuer, OAuth2Service } from "oauth2-mock-server";

const { values: args } = parseArgs({
  options: {
    port: { type: "string", default: "8081" },
    host: { type: "string", default: "127.0.0.1" },
    realm: { type: "string", default: "ecommerce" },
    jwk: { type: "string" },
    "token-ttl": { type: "string", default: "3600" },
  },
});

// The gateway checks this audience, as with the Compose Keycloak realm (docker/keycloak).
const AUDIENCE = "api-gateway";
// Demo realm: a password-grant user per role, and clients for scripts (client_credentials).
const USERS = {
  admin: { password: "admin", email: "admin@example.com", roles: ["admin", "customer"],
    id: "8f1b6a2e-1d7a-4a57-9a51-0d2b7c1e0a01" },
  customer: { password: "customer", email: "customer@example.com", roles: ["customer"],
    id: "3c9e4f10-52b8-4d0e-8f0a-6a1d2b3c4d02" },
  // A second shopper, so "a customer sees only its own orders" can be shown end to end.
  customer2: { password: "customer2", email: "customer2@example.com", roles: ["customer"],
    id: "5d2a7b31-6c4e-4f1a-9b2c-7e3f4a5b6c03" },
};
const CLIENTS = {
  "ecommerce-app": { secret: null, roles: [] },
  // The web shop (storefront/): public, authorization code + PKCE only, back to the shop's origin.
  storefront: { secret: null, roles: [], pkce: true },
  "api-gateway": { secret: "api-gateway-local-secret", roles: [] },
  "ecommerce-admin-cli": { secret: "admin-cli-secret", roles: ["admin"] },
};

const issuer = new OAuth2Issuer();
if (args.jwk && existsSync(args.jwk)) {
  await issuer.keys.add(JSON.parse(readFileSync(args.jwk, "utf8")));
} else {
  await issuer.keys.generate("RS256");
  if (args.jwk) {
    mkdirSync(dirname(args.jwk), { recursive: true });
    writeFileSync(args.jwk, JSON.stringify(issuer.keys.toJSON(true)[0]), { mode: 0o600 });
  }
}
const prefix = `/realms/${args.realm}`;
issuer.url = `http://${args.host}:${args.port}${prefix}`;
const service = new OAuth2Service(issuer);

function clientOf(req) {
  const credentials = basicAuth(req);
  return credentials
    ? { id: credentials.name, secret: credentials.pass }
    : { id: req.body.client_id, secret: req.body.client_secret };
}

// Who is asking, or a reason to refuse: the mock itself accepts any credentials.
function principal(req) {
  const body = req.body;
  const client = clientOf(req);
  const known = CLIENTS[client.id];
  if (!known) return { error: "invalid_client", reason: `unknown client ${client.id}` };
  if (known.secret !== null && known.secret !== client.secret)
    return { error: "invalid_client", reason: "bad client secret" };
  if (body.grant_type === "password") {
    const user = USERS[body.username];
    if (!user || user.password !== body.password)
      return { error: "invalid_grant", reason: "Invalid user credentials" };
    return { client: client.id, username: body.username, ...user };
  }
  if (body.grant_type === "client_credentials") {
    if (known.secret === null)
      return { error: "unauthorized_client", reason: "public client cannot use client_credentials" };
    return { client: client.id, username: `service-account-${client.id}`,
      email: undefined, roles: known.roles, id: `service-account-${client.id}` };
  }
  // authorization_code: whoever signed in on the login page for that code; refresh_token: the
  // user the refreshed token was issued to.
  const username = body.grant_type === "authorization_code" ? signedInWith.get(body.code)
    : body.grant_type === "refresh_token" ? refreshedFor.get(body.refresh_token) : undefined;
  if (!username) return { error: "invalid_grant", reason: "Code not valid" };
  if (known.pkce && body.grant_type === "authorization_code" && !body.code_verifier)
    return { error: "invalid_grant", reason: "PKCE code_verifier required for this client" };
  return { client: client.id, username, ...USERS[username] };
}

// Who signed in for each authorization code / refresh token (the mock itself logs nobody in).
const signedInWith = new Map();
const refreshedFor = new Map();

service.on("beforeTokenSigning", (token, req) => {
  const who = principal(req);
  if (who.error) return;
  const ttl = Number(args["token-ttl"]);
  Object.assign(token.payload, {
    sub: who.id,
    aud: [AUDIENCE, "ecommerce-app"],
    azp: who.client,
    typ: "Bearer",
    preferred_username: who.username,
    realm_access: { roles: who.roles },
    exp: token.payload.iat + ttl,
  });
  if (who.email) Object.assign(token.payload, { email: who.email, email_verified: true });
});

service.on("beforeResponse", (response, req) => {
  const who = principal(req);
  if (who.error) {
    response.statusCode = who.error === "invalid_grant" ? 401 : 400;
    response.body = { error: who.error, error_description: who.reason };
    return;
  }
  // A code is good for one exchange, as with Keycloak.
  if (req.body.grant_type === "authorization_code") signedInWith.delete(req.body.code);
  if (response.body.refresh_token) refreshedFor.set(response.body.refresh_token, who.username);
});

// The login page filled the username in; remember it under the code the mock hands out.
service.on("beforeAuthorizeRedirect", (redirect, req) => {
  const code = redirect.url.searchParams.get("code");
  const username = new URL(req.url, "http://local").searchParams.get("username");
  if (code && username) signedInWith.set(code, username);
});

function escapeHtml(text) {
  return String(text).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

// A client may only send users back to where it is allowed to: the shop's own origins here
// (Keycloak checks the client's redirectUris the same way).
function redirectAllowed(clientId, redirectUri) {
  if (!CLIENTS[clientId] || CLIENTS[clientId].secret !== null) return false;
  try {
    const url = new URL(redirectUri);
    return url.protocol === "http:" && ["127.0.0.1", "localhost"].includes(url.hostname);
  } catch {
    return false;
  }
}

function loginPage(res, params, error) {
  const hidden = [...params].filter(([name]) => !["username", "password"].includes(name))
    .map(([name, value]) => `<input type="hidden" name="${escapeHtml(name)}" value="${escapeHtml(value)}">`).join("");
  const users = Object.keys(USERS).map((u) => `<option value="${u}">${u}</option>`).join("");
  res.writeHead(error ? 401 : 200, { "content-type": "text/html; charset=utf-8", "cache-control": "no-store" });
  res.end(`<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Sign in to ${escapeHtml(args.realm)}</title></head>
<body style="font-family: system-ui, sans-serif; max-width: 22rem; margin: 4rem auto">
<h1>Sign in</h1><p>Local identity provider (development only). Demo users: ${Object.keys(USERS).join(", ")}; the password is the username.</p>
${error ? `<p role="alert" style="color: #b3261e">${escapeHtml(error)}</p>` : ""}
<form method="post">${hidden}
<p><label>Username <input name="username" list="demo-users" autocomplete="username" required autofocus></label></p>
<datalist id="demo-users">${users}</datalist>
<p><label>Password <input name="password" type="password" autocomplete="current-password" required></label></p>
<p><button type="submit">Sign in</button></p></form></body></html>`);
}

function readForm(req) {
  return new Promise((resolve, reject) => {
    let body = "";
    req.on("data", (chunk) => {
      body += chunk;
      if (body.length > 16_384) reject(new Error("form too large"));
    });
    req.on("end", () => resolve(new URLSearchParams(body)));
    req.on("error", reject);
  });
}

// The authorization endpoint: a login form (GET) that checks the demo user's password (POST)
// before the mock issues a code; the mock alone would hand a code to anyone, as nobody.
async function authorize(req, res, handler) {
  const url = new URL(req.url, "http://local");
  const params = req.method === "POST" ? await readForm(req) : url.searchParams;
  const clientId = params.get("client_id");
  if (!redirectAllowed(clientId, params.get("redirect_uri") ?? "")) {
    res.writeHead(400, { "content-type": "application/json" });
    res.end(JSON.stringify({ error: "invalid_request", error_description: "Invalid client or redirect_uri" }));
    return;
  }
  if (CLIENTS[clientId].pkce && params.get("code_challenge_method") !== "S256") {
    res.writeHead(400, { "content-type": "application/json" });
    res.end(JSON.stringify({ error: "invalid_request", error_description: "PKCE (S256) is required for this client" }));
    return;
  }
  if (req.method !== "POST") return loginPage(res, params);
  const username = params.get("username") ?? "";
  const user = USERS[username];
  if (!user || user.password !== params.get("password")) return loginPage(res, params, "Invalid username or password.");
  params.delete("password");
  req.method = "GET";
  req.url = `/authorize?${params}`;
  handler(req, res);
}

// Keycloak's paths onto the mock's: /realms/<realm>/protocol/openid-connect/{token,certs,...}.
const KEYCLOAK_PATHS = {
  "/protocol/openid-connect/token": "/token",
  "/protocol/openid-connect/certs": "/jwks",
  "/protocol/openid-connect/auth": "/authorize",
  "/protocol/openid-connect/userinfo": "/userinfo",
  "/protocol/openid-connect/logout": "/endsession",
  "/protocol/openid-connect/revoke": "/revoke",
  "/protocol/openid-connect/token/introspect": "/introspect",
};

const handler = service.requestHandler;
const server = createServer((req, res) => {
  const url = new URL(req.url, "http://local");
  if (url.pathname === "/health") {
    res.writeHead(200, { "content-type": "application/json" });
    res.end(JSON.stringify({ status: "UP", service: "oidc", issuer: issuer.url }));
    return;
  }
  if (url.pathname !== prefix && !url.pathname.startsWith(`${prefix}/`)) {
    res.writeHead(404, { "content-type": "application/json" });
    res.end(JSON.stringify({ error: "Realm does not exist" }));
    return;
  }
  const rest = url.pathname.slice(prefix.length) || "/";
  req.url = (KEYCLOAK_PATHS[rest] ?? rest) + url.search;
  if (req.url.split("?")[0] === "/authorize") {
    authorize(req, res, handler).catch(() => {
      res.writeHead(400, { "content-type": "application/json" });
      res.end(JSON.stringify({ error: "invalid_request" }));
    });
    return;
  }
  handler(req, res);
});

server.listen(Number(args.port), args.host, () => {
  console.log(JSON.stringify({ event: "oidc.started", issuer: issuer.url,
    kid: issuer.keys.toJSON()[0].kid }));
});
for (const signal of ["SIGTERM", "SIGINT"]) {
  process.on(signal, () => server.close(() => process.exit(0)));
}
