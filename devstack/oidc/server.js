// Local OIDC provider for the devstack (LOCAL-STACK.md, "Identity"): oauth2-mock-server behind
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
  // authorization_code / refresh_token: the demo customer, as the mock does not log anyone in.
  return { client: client.id ?? "ecommerce-app", username: "customer", ...USERS.customer };
}

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
  }
});

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
  handler(req, res);
});

server.listen(Number(args.port), args.host, () => {
  console.log(JSON.stringify({ event: "oidc.started", issuer: issuer.url,
    kid: issuer.keys.toJSON()[0].kid }));
});
for (const signal of ["SIGTERM", "SIGINT"]) {
  process.on(signal, () => server.close(() => process.exit(0)));
}
