"""Access tokens: RS256 (or another asymmetric algorithm on the allow-list) JWTs checked
against the provider's JWKS, which is fetched without blocking the loop, cached, refetched on
an unknown `kid` at most every `min_refetch_seconds`."""

import asyncio
import time
from dataclasses import dataclass
from typing import Any

import httpx
import jwt
import structlog
from prometheus_client import Counter

log = structlog.get_logger(__name__)

# Symmetric algorithms would let anyone holding the public key sign (key confusion).
ASYMMETRIC = frozenset(
    {"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"}
)

KEY_FAMILIES = {
    "RSA": frozenset({"RS256", "RS384", "RS512", "PS256", "PS384", "PS512"}),
    "EC": frozenset({"ES256", "ES384", "ES512"}),
    "OKP": frozenset({"EdDSA"}),
}

JWKS_FETCHES = Counter("gateway_jwks_fetches_total", "JWKS documents fetched", ["outcome"])
TOKENS_REJECTED = Counter("gateway_tokens_rejected_total", "Access tokens refused", ["reason"])


class InvalidToken(Exception):
    """401: the sentence says why, for the client and the WWW-Authenticate header."""

    def __init__(self, reason: str, description: str) -> None:
        super().__init__(description)
        self.reason = reason
        self.description = description


class ProviderUnavailable(Exception):
    """The provider's keys could not be fetched: the token can be neither accepted nor refused."""


@dataclass(frozen=True)
class Identity:
    subject: str
    email: str | None
    username: str | None
    roles: frozenset[str]

    @property
    def is_admin(self) -> bool:
        return "admin" in self.roles


def identity_from_claims(claims: dict[str, Any]) -> Identity:
    realm_access = claims.get("realm_access")
    roles = realm_access.get("roles") if isinstance(realm_access, dict) else None
    email = claims.get("email")
    username = claims.get("preferred_username")
    return Identity(
        subject=str(claims["sub"]),
        email=email if isinstance(email, str) and email else None,
        username=username if isinstance(username, str) else None,
        roles=frozenset(r for r in roles if isinstance(r, str))
        if isinstance(roles, list)
        else frozenset(),
    )


class TokenValidator:
    def __init__(
        self,
        issuer: str,
        audience: str,
        algorithms: list[str],
        *,
        http: httpx.AsyncClient,
        cache_seconds: float = 300.0,
        min_refetch_seconds: float = 10.0,
        leeway_seconds: float = 30.0,
    ) -> None:
        unsafe = set(algorithms) - ASYMMETRIC
        if unsafe or not algorithms:
            raise ValueError(f"only asymmetric JWT algorithms are allowed, not {sorted(unsafe)}")
        self.issuer = issuer.rstrip("/")
        self.audience = audience
        self.algorithms = list(algorithms)
        self.http = http
        self.cache_seconds = cache_seconds
        self.min_refetch_seconds = min_refetch_seconds
        self.leeway_seconds = leeway_seconds
        self._jwks_uri: str | None = None
        self._keys: dict[str, jwt.PyJWK] = {}
        # The `alg` each key was published for, when the JWKS says.
        self._declared_alg: dict[str, str] = {}
        self._fetched_at: float | None = None
        # Failed fetches count too: a provider that is down is not asked on every request.
        self._attempted_at: float | None = None
        self._lock = asyncio.Lock()
        self.fetch_count = 0

    async def validate(self, token: str) -> Identity:
        try:
            header = jwt.get_unverified_header(token)
        except jwt.DecodeError as exc:
            raise self._reject("malformed", "The access token is not a well-formed JWT.") from exc
        algorithm = header.get("alg")
        if algorithm not in self.algorithms:
            raise self._reject(
                "algorithm",
                f"The access token is signed with {algorithm!r}, which is not "
                f"accepted (allowed: {', '.join(self.algorithms)}).",
            )
        kid = header.get("kid")
        if not isinstance(kid, str) or not kid:
            raise self._reject("kid", "The access token names no signing key (kid).")
        key = await self._key(kid)
        declared = self._declared_alg.get(kid)
        if (declared and declared != algorithm) or algorithm not in KEY_FAMILIES.get(
            str(key.key_type), frozenset()
        ):
            # A key published for one algorithm never verifies another (no RSA/EC mix-ups).
            raise self._reject(
                "algorithm",
                f"The access token's algorithm {algorithm} does not match its "
                f"signing key ({declared or key.key_type}).",
            )
        try:
            claims = jwt.decode(
                token,
                key.key,
                algorithms=[algorithm],
                issuer=self.issuer,
                leeway=self.leeway_seconds,
                # aud is checked below: Keycloak puts the client in aud or in azp.
                options={"require": ["exp", "iss", "sub"], "verify_aud": False},
            )
        except jwt.ExpiredSignatureError as exc:
            raise self._reject("expired", "The access token has expired.") from exc
        except jwt.ImmatureSignatureError as exc:
            raise self._reject("not_yet_valid", "The access token is not valid yet (nbf).") from exc
        except jwt.InvalidIssuerError as exc:
            raise self._reject("issuer", "The access token was issued by another issuer.") from exc
        except jwt.InvalidSignatureError as exc:
            raise self._reject("signature", "The access token signature is invalid.") from exc
        except jwt.MissingRequiredClaimError as exc:
            raise self._reject(
                "claims", f"The access token lacks the {exc.claim!r} claim."
            ) from exc
        except (jwt.InvalidTokenError, jwt.PyJWKError, ValueError, TypeError) as exc:
            raise self._reject("invalid", f"The access token is invalid ({exc}).") from exc
        audiences = claims.get("aud")
        audiences = [audiences] if isinstance(audiences, str) else audiences or []
        if self.audience not in audiences and claims.get("azp") != self.audience:
            raise self._reject("audience", f"The access token is not meant for {self.audience!r}.")
        return identity_from_claims(claims)

    @staticmethod
    def _reject(reason: str, description: str) -> InvalidToken:
        TOKENS_REJECTED.labels(reason).inc()
        return InvalidToken(reason, description)

    async def _key(self, kid: str) -> jwt.PyJWK:
        now = time.monotonic()
        fresh = self._fetched_at is not None and now - self._fetched_at < self.cache_seconds
        if fresh and kid in self._keys:
            return self._keys[kid]
        async with self._lock:
            # Another request may have refreshed the keys while this one waited.
            if (
                kid in self._keys
                and self._fetched_at is not None
                and time.monotonic() - self._fetched_at < self.cache_seconds
            ):
                return self._keys[kid]
            recently = (
                self._attempted_at is not None
                and time.monotonic() - self._attempted_at < self.min_refetch_seconds
            )
            if not recently:
                try:
                    await self._refresh()
                except ProviderUnavailable:
                    # Keys we already hold stay usable while the provider is away.
                    if kid in self._keys:
                        return self._keys[kid]
                    raise
        if kid not in self._keys:
            if self._fetched_at is None:
                raise ProviderUnavailable("the identity provider's keys were never fetched")
            raise self._reject(
                "unknown_kid", "The access token is signed with a key the issuer does not list."
            )
        return self._keys[kid]

    async def _refresh(self) -> None:
        self._attempted_at = time.monotonic()
        try:
            if self._jwks_uri is None:
                discovery = await self._get_json(f"{self.issuer}/.well-known/openid-configuration")
                if discovery.get("issuer", "").rstrip("/") != self.issuer:
                    raise ProviderUnavailable(
                        f"discovery names issuer {discovery.get('issuer')!r}, "
                        f"expected {self.issuer!r}"
                    )
                self._jwks_uri = str(discovery["jwks_uri"])
            document = await self._get_json(self._jwks_uri)
        except ProviderUnavailable:
            JWKS_FETCHES.labels("failed").inc()
            raise
        keys: dict[str, jwt.PyJWK] = {}
        declared: dict[str, str] = {}
        for entry in document.get("keys", []):
            if (
                not isinstance(entry, dict)
                or entry.get("use", "sig") != "sig"
                or not entry.get("kid")
            ):
                continue
            try:
                keys[entry["kid"]] = jwt.PyJWK(entry)
                if isinstance(entry.get("alg"), str):
                    declared[entry["kid"]] = entry["alg"]
            except (jwt.PyJWKError, jwt.InvalidKeyError) as exc:
                log.warning("gateway.jwks_key_skipped", kid=entry.get("kid"), error=str(exc))
        self._keys = keys
        self._declared_alg = declared
        self._fetched_at = time.monotonic()
        self.fetch_count += 1
        JWKS_FETCHES.labels("ok").inc()
        log.info("gateway.jwks_fetched", keys=len(keys))

    async def _get_json(self, url: str) -> dict[str, Any]:
        try:
            response = await self.http.get(url)
        except httpx.HTTPError as exc:
            raise ProviderUnavailable(f"{url}: {type(exc).__name__}") from exc
        if response.status_code != 200:
            raise ProviderUnavailable(f"{url} answered {response.status_code}")
        try:
            body = response.json()
        except ValueError as exc:
            raise ProviderUnavailable(f"{url} answered something other than JSON") from exc
        if not isinstance(body, dict):
            raise ProviderUnavailable(f"{url} answered JSON that is not an object")
        return body
