"""The JWT validation matrix: RS256 tokens made here with local RSA keys, the JWKS served
through httpx.MockTransport (discovery -> JWKS, as against Keycloak)."""

import asyncio
import base64
import json
import time

import httpx
import jwt
import pytest

from api_gateway.identity import InvalidToken, ProviderUnavailable, TokenValidator

from .tokens import AUDIENCE, ISSUER, FakeProvider, KeyPair, claims_for, hs256_signed_with


@pytest.fixture(scope="module")
def key() -> KeyPair:
    return KeyPair("key-1")


@pytest.fixture(scope="module")
def other_key() -> KeyPair:
    return KeyPair("key-2")


def _validator(provider: FakeProvider, *, min_refetch: float = 60.0) -> TokenValidator:
    http = httpx.AsyncClient(transport=httpx.MockTransport(provider.handler()))
    return TokenValidator(
        ISSUER,
        AUDIENCE,
        ["RS256"],
        http=http,
        cache_seconds=300,
        min_refetch_seconds=min_refetch,
        leeway_seconds=0,
    )


async def _rejects(validator: TokenValidator, token: str, reason: str) -> InvalidToken:
    with pytest.raises(InvalidToken) as caught:
        await validator.validate(token)
    assert caught.value.reason == reason, caught.value.description
    return caught.value


async def test_good_token_gives_the_identity(key: KeyPair) -> None:
    validator = _validator(FakeProvider([key]))
    identity = await validator.validate(key.sign({"realm_access": {"roles": ["admin"]}}))
    assert identity.subject == "user-1"
    assert identity.email == "customer@example.com"
    assert identity.roles == frozenset({"admin"})
    assert identity.is_admin


async def test_audience_may_be_a_list_or_only_azp(key: KeyPair) -> None:
    validator = _validator(FakeProvider([key]))
    await validator.validate(key.sign({"aud": ["account", AUDIENCE]}))
    await validator.validate(key.sign({"aud": "account", "azp": AUDIENCE}))


async def test_expired_token_is_refused(key: KeyPair) -> None:
    now = int(time.time())
    error = await _rejects(
        _validator(FakeProvider([key])),
        key.sign({"exp": now - 60, "iat": now - 120, "nbf": now - 120}),
        "expired",
    )
    assert "expired" in error.description


async def test_token_not_valid_yet_is_refused(key: KeyPair) -> None:
    await _rejects(
        _validator(FakeProvider([key])), key.sign({"nbf": int(time.time()) + 600}), "not_yet_valid"
    )


async def test_wrong_issuer_is_refused(key: KeyPair) -> None:
    await _rejects(
        _validator(FakeProvider([key])),
        key.sign({"iss": "http://evil.test/realms/ecommerce"}),
        "issuer",
    )


async def test_wrong_audience_is_refused(key: KeyPair) -> None:
    await _rejects(
        _validator(FakeProvider([key])),
        key.sign({"aud": "other-app", "azp": "other-app"}),
        "audience",
    )


async def test_missing_exp_is_refused(key: KeyPair) -> None:
    await _rejects(_validator(FakeProvider([key])), key.sign(drop=("exp",)), "claims")


async def test_alg_none_is_refused(key: KeyPair) -> None:
    unsigned = jwt.encode(claims_for(), None, algorithm="none", headers={"kid": key.kid})
    await _rejects(_validator(FakeProvider([key])), unsigned, "algorithm")


async def test_hs256_signed_with_the_public_key_is_refused(key: KeyPair) -> None:
    confused = hs256_signed_with(key.public_pem, key.kid, claims_for())
    await _rejects(_validator(FakeProvider([key])), confused, "algorithm")


def test_symmetric_algorithms_cannot_be_configured() -> None:
    with pytest.raises(ValueError, match="asymmetric"):
        TokenValidator(ISSUER, AUDIENCE, ["RS256", "HS256"], http=httpx.AsyncClient())


async def test_tampered_signature_is_refused(key: KeyPair) -> None:
    header, payload, signature = key.sign().split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=="))
    claims["realm_access"] = {"roles": ["admin"]}
    forged = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    await _rejects(_validator(FakeProvider([key])), f"{header}.{forged}.{signature}", "signature")


async def test_token_signed_by_another_key_with_a_known_kid_is_refused(
    key: KeyPair, other_key: KeyPair
) -> None:
    await _rejects(_validator(FakeProvider([key])), other_key.sign(kid=key.kid), "signature")


async def test_malformed_token_is_refused(key: KeyPair) -> None:
    await _rejects(_validator(FakeProvider([key])), "not-a-jwt", "malformed")


async def test_unknown_kid_refetches_the_jwks_once(key: KeyPair, other_key: KeyPair) -> None:
    provider = FakeProvider([key])
    validator = _validator(provider, min_refetch=0.2)
    await validator.validate(key.sign())
    assert provider.jwks_fetches == 1
    await asyncio.sleep(0.25)
    # The provider rotated in a new key: the first token signed with it triggers one refetch.
    provider.keys = [key, other_key]
    await validator.validate(other_key.sign())
    assert provider.jwks_fetches == 2
    await validator.validate(other_key.sign())
    assert provider.jwks_fetches == 2  # cached


async def test_forged_kids_cannot_make_the_gateway_flood_the_provider(key: KeyPair) -> None:
    provider = FakeProvider([key])
    validator = _validator(provider, min_refetch=5)
    await validator.validate(key.sign())
    validator._attempted_at = time.monotonic() - 10  # the last fetch was a while ago
    for n in range(5):
        await _rejects(validator, key.sign(kid=f"forged-{n}"), "unknown_kid")
    # One refetch for the first unknown kid, then the rate limit holds.
    assert provider.jwks_fetches == 2


async def test_provider_down_before_any_key_is_known_is_not_a_401(key: KeyPair) -> None:
    provider = FakeProvider([key])
    provider.down = True
    with pytest.raises(ProviderUnavailable):
        await _validator(provider).validate(key.sign())


async def test_cached_keys_keep_working_while_the_provider_is_down(key: KeyPair) -> None:
    provider = FakeProvider([key])
    validator = _validator(provider, min_refetch=0)
    await validator.validate(key.sign())
    provider.down = True
    validator.cache_seconds = 0  # force a refresh attempt
    assert (await validator.validate(key.sign())).subject == "user-1"


async def test_a_key_published_for_another_algorithm_is_not_used(key: KeyPair) -> None:
    class RS384Key(KeyPair):
        def jwk(self) -> dict[str, object]:
            return {**super().jwk(), "alg": "RS384"}

    published = RS384Key("key-384")
    await _rejects(_validator(FakeProvider([published])), published.sign(), "algorithm")


async def test_an_ec_key_never_verifies_an_rs256_token(key: KeyPair) -> None:
    from cryptography.hazmat.primitives.asymmetric import ec

    class ECKey(KeyPair):
        def jwk(self) -> dict[str, object]:
            public = ec.generate_private_key(ec.SECP256R1()).public_key()
            return {**json.loads(jwt.algorithms.ECAlgorithm.to_jwk(public)), "kid": self.kid}

    await _rejects(_validator(FakeProvider([ECKey("ec-1")])), key.sign(kid="ec-1"), "algorithm")
