"""Authentication: which key checks a token, every way a token is refused."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
import uuid
from dataclasses import dataclass
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from agentos.errors import ConfigError, TokenExpired
from agentos.pipeline.authn import KeyRing, TokenRejected, TokenRules, verify_token
from tests.fixtures.app import TEST_SECRET, AppMaker

SECRET = "a-test-secret-of-more-than-thirty-two-bytes"
RULES = TokenRules(issuer="agentos", audience="agentos-api", leeway_seconds=10)


def pem(private: Any) -> str:
    """The PEM of a private key's public half."""
    public = private.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return public.decode()


@dataclass(frozen=True)
class Keys:
    """Signing keys of every kind the service accepts, and their key ring."""

    rsa_old: Any
    rsa_new: Any
    ec: Any

    @property
    def public_pems(self) -> dict[str, str]:
        return {
            "rsa-2025": pem(self.rsa_old),
            "rsa-2026": pem(self.rsa_new),
            "ec-1": pem(self.ec),
        }

    @property
    def ring(self) -> KeyRing:
        return KeyRing(SECRET, self.public_pems)


@pytest.fixture(scope="module")
def keys() -> Keys:
    """Two RSA keys (a rotation) and one P-256 key."""
    return Keys(
        rsa_old=rsa.generate_private_key(public_exponent=65537, key_size=2048),
        rsa_new=rsa.generate_private_key(public_exponent=65537, key_size=2048),
        ec=ec.generate_private_key(ec.SECP256R1()),
    )


def claims(**changes: Any) -> dict[str, Any]:
    """Valid access-token claims, with ``changes`` applied (None removes)."""
    now = int(time.time())
    base: dict[str, Any] = {
        "sub": "alice",
        "roles": ["admin"],
        "iss": "agentos",
        "aud": "agentos-api",
        "iat": now,
        "nbf": now,
        "exp": now + 600,
        "jti": uuid.uuid4().hex,
    }
    base.update(changes)
    return {name: value for name, value in base.items() if value is not None}


def hs256(**changes: Any) -> str:
    """A token signed with the shared secret."""
    return jwt.encode(claims(**changes), SECRET, algorithm="HS256")


def b64(data: bytes) -> str:
    """Unpadded base64url, as JWTs use."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def handmade(
    header: dict[str, Any], body: dict[str, Any], signature: bytes = b""
) -> str:
    """A token assembled by hand, for headers no library would write."""
    parts = [json.dumps(header).encode(), json.dumps(body).encode()]
    return ".".join([*map(b64, parts), b64(signature)])


# -- accepted ----------------------------------------------------------------


def test_an_hs256_token_without_kid_is_checked_with_the_secret(keys: Keys) -> None:
    """The development and configured secret signs tokens without a kid."""

    verified = verify_token(hs256(), keys.ring, RULES)

    assert verified["sub"] == "alice"


@pytest.mark.parametrize("kid", ["rsa-2025", "rsa-2026"])
def test_rs256_tokens_of_every_configured_key_verify(keys: Keys, kid: str) -> None:
    """Old and new keys are accepted together while keys rotate."""
    private = keys.rsa_old if kid == "rsa-2025" else keys.rsa_new
    token = jwt.encode(claims(), private, algorithm="RS256", headers={"kid": kid})

    assert verify_token(token, keys.ring, RULES)["jti"]


def test_an_es256_token_verifies_with_its_p256_key(keys: Keys) -> None:
    """An EC P-256 public key verifies ES256 tokens."""
    token = jwt.encode(claims(), keys.ec, algorithm="ES256", headers={"kid": "ec-1"})

    assert verify_token(token, keys.ring, RULES)["sub"] == "alice"


def test_a_token_expired_within_the_leeway_still_verifies(keys: Keys) -> None:
    """Clocks may differ by the leeway."""
    token = hs256(exp=int(time.time()) - 5)

    assert verify_token(token, keys.ring, RULES)


# -- refused -----------------------------------------------------------------


def test_an_expired_token_is_token_expired(keys: Keys) -> None:
    """Past exp plus leeway: 401 TOKEN_EXPIRED, so the client refreshes."""

    with pytest.raises(TokenExpired):
        verify_token(hs256(exp=int(time.time()) - 60), keys.ring, RULES)


def refused(keys: Keys, token: str) -> str:
    """The reason a token is refused with."""
    with pytest.raises(TokenRejected) as caught:
        verify_token(token, keys.ring, RULES)
    assert caught.value.status == 401
    assert caught.value.error_code == "UNAUTHORIZED"
    return caught.value.reason


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        pytest.param({"nbf": int(time.time()) + 3600}, "not_yet_valid", id="nbf-ahead"),
        pytest.param({"iat": int(time.time()) + 3600}, "not_yet_valid", id="iat-ahead"),
        pytest.param({"iss": "someone-else"}, "issuer", id="wrong-iss"),
        pytest.param({"aud": "another-api"}, "audience", id="wrong-aud"),
        pytest.param({"exp": None}, "missing_claim", id="no-exp"),
        pytest.param({"iss": None}, "missing_claim", id="no-iss"),
        pytest.param({"aud": None}, "missing_claim", id="no-aud"),
        pytest.param({"jti": None}, "missing_claim", id="no-jti"),
        pytest.param({"sub": "{alice}"}, "claims", id="subject-with-braces"),
        pytest.param({"sub": "two words"}, "claims", id="subject-with-space"),
        pytest.param({"typ": "refresh"}, "claims", id="refresh-token"),
    ],
)
def test_bad_claims_are_refused_with_their_reason(
    keys: Keys, changes: dict[str, Any], reason: str
) -> None:
    """Each wrong or missing claim is a 401 naming what is wrong."""

    assert refused(keys, hs256(**changes)) == reason


def test_alg_none_is_refused(keys: Keys) -> None:
    """An unsigned token never passes: the key fixes the algorithm."""
    token = handmade({"alg": "none", "typ": "JWT"}, claims())

    assert refused(keys, token) == "algorithm"


def test_hs256_signed_with_the_rs256_public_key_is_refused(keys: Keys) -> None:
    """The classic confusion: a public PEM used as an HMAC secret."""
    public_pem = keys.public_pems["rsa-2026"].encode()
    header = {"alg": "HS256", "typ": "JWT", "kid": "rsa-2026"}
    signing_input = (
        f"{b64(json.dumps(header).encode())}.{b64(json.dumps(claims()).encode())}"
    )
    signature = hmac.new(public_pem, signing_input.encode(), hashlib.sha256).digest()
    token = f"{signing_input}.{b64(signature)}"

    assert refused(keys, token) == "algorithm"


def test_hs256_signed_with_the_public_key_and_no_kid_fails_the_signature(
    keys: Keys,
) -> None:
    """Without a kid the secret checks it, and the PEM is not the secret."""
    public_pem = keys.public_pems["rsa-2026"]
    header = {"alg": "HS256", "typ": "JWT"}
    signing_input = (
        f"{b64(json.dumps(header).encode())}.{b64(json.dumps(claims()).encode())}"
    )
    signature = hmac.new(
        public_pem.encode(), signing_input.encode(), hashlib.sha256
    ).digest()

    assert refused(keys, f"{signing_input}.{b64(signature)}") == "signature"


def test_an_rs256_token_without_kid_is_refused(keys: Keys) -> None:
    """Without a kid only HS256 is accepted."""
    token = jwt.encode(claims(), keys.rsa_new, algorithm="RS256")

    assert refused(keys, token) == "algorithm"


def test_an_rs256_token_under_another_keys_kid_fails_the_signature(keys: Keys) -> None:
    """Signed with the old key but naming the new one."""
    token = jwt.encode(
        claims(), keys.rsa_old, algorithm="RS256", headers={"kid": "rsa-2026"}
    )

    assert refused(keys, token) == "signature"


@pytest.mark.parametrize(
    "part",
    [pytest.param(1, id="payload"), pytest.param(2, id="signature")],
)
def test_a_tampered_token_fails_the_signature(keys: Keys, part: int) -> None:
    """Changing any byte of payload or signature breaks the signature."""
    pieces = hs256().split(".")
    if part == 1:
        pieces[1] = b64(json.dumps(claims(roles=["admin", "root"])).encode())
    else:
        pieces[2] = pieces[2][:-4] + ("AAAA" if pieces[2][-4:] != "AAAA" else "BBBB")

    assert refused(keys, ".".join(pieces)) == "signature"


@pytest.mark.parametrize(
    "kid",
    [
        pytest.param("rsa-2099", id="unknown"),
        pytest.param("../../../../etc/passwd", id="path"),
        pytest.param("x' OR '1'='1'; DROP TABLE users; --", id="sql"),
        pytest.param("k" * 10_000, id="ten-thousand-characters"),
    ],
)
def test_an_unknown_kid_is_refused_without_touching_anything(
    keys: Keys, kid: Any
) -> None:
    """A kid only ever selects among configured keys; anything else is unknown."""
    token = handmade({"alg": "RS256", "typ": "JWT", "kid": kid}, claims(), b"sig")

    assert refused(keys, token) == "unknown_kid"


@pytest.mark.parametrize(
    "token",
    [
        pytest.param("garbage", id="one-part"),
        pytest.param("a.b.c", id="three-bad-parts"),
        pytest.param("", id="empty"),
        pytest.param("eyJhbGciOiJIUzI1NiJ9.%%%.xyz", id="bad-base64"),
        pytest.param("eyJhbGciOiJIUzI1NiJ9.\u00e9.xyz", id="non-ascii"),
        pytest.param("\udce9", id="undecodable-header-byte"),
        pytest.param(
            handmade({"alg": "RS256", "kid": 42}, claims(), b"sig"),
            id="kid-not-a-string",
        ),
    ],
)
def test_a_token_that_is_not_a_jwt_is_malformed(keys: Keys, token: str) -> None:
    """Garbage is refused as malformed, not as a crash."""

    assert refused(keys, token) == "malformed"


# -- configuration -----------------------------------------------------------


def test_a_public_key_that_is_not_pem_stops_the_start() -> None:
    """A broken key in the settings names the kid."""

    with pytest.raises(ConfigError, match=r"jwt\.public_keys\.bad"):
        KeyRing(
            SECRET,
            {"bad": "-----BEGIN PUBLIC KEY-----\nnope\n-----END PUBLIC KEY-----"},
        )


def test_a_short_rsa_key_stops_the_start() -> None:
    """RSA keys below 2048 bits are refused."""
    weak = rsa.generate_private_key(public_exponent=65537, key_size=1024)

    with pytest.raises(ConfigError, match="1024-bit"):
        KeyRing(SECRET, {"weak": pem(weak)})


def test_an_ec_key_on_another_curve_stops_the_start() -> None:
    """ES256 means P-256; a P-384 key is refused."""
    other = ec.generate_private_key(ec.SECP384R1())

    with pytest.raises(ConfigError, match="P-256"):
        KeyRing(SECRET, {"p384": pem(other)})


# -- over HTTP ---------------------------------------------------------------

PROTECTED = "/api/admin/ssot"


async def test_no_token_is_401_with_a_bearer_challenge(make_app: AppMaker) -> None:
    """Without Authorization the answer says how to authenticate."""
    app = await make_app()

    answer = await app.client.get(PROTECTED)

    assert answer.status_code == 401
    assert answer.json()["error_code"] == "UNAUTHORIZED"
    assert answer.headers["WWW-Authenticate"].startswith("Bearer")


async def test_a_token_of_bytes_that_are_not_ascii_is_401_and_counted(
    make_app: AppMaker,
) -> None:
    """A header byte past ASCII is a malformed token, counted towards lockout."""
    app = await make_app()

    answers = [
        await app.client.get(PROTECTED, headers={"Authorization": b"Bearer \xe9x"})
        for _ in range(6)
    ]

    assert [a.status_code for a in answers] == [401] * 5 + [429]
    assert answers[0].json()["error_code"] == "UNAUTHORIZED"
    assert answers[-1].json()["error_code"] == "LOCKED_OUT"


async def test_an_expired_token_is_401_token_expired(make_app: AppMaker) -> None:
    """The envelope tells the client to refresh."""
    app = await make_app()
    token = jwt.encode(
        claims(exp=int(time.time()) - 60), TEST_SECRET, algorithm="HS256"
    )

    answer = await app.client.get(
        PROTECTED, headers={"Authorization": f"Bearer {token}"}
    )

    assert answer.status_code == 401
    assert answer.json()["error_code"] == "TOKEN_EXPIRED"


async def test_a_configured_rs256_key_authenticates_over_http(
    make_app: AppMaker, keys: Keys
) -> None:
    """A token from an identity provider, signed with a configured key, works."""
    app = await make_app(jwt={"public_keys": keys.public_pems})
    token = jwt.encode(
        claims(), keys.rsa_new, algorithm="RS256", headers={"kid": "rsa-2026"}
    )

    answer = await app.client.get(
        PROTECTED, headers={"Authorization": f"Bearer {token}"}
    )

    assert answer.status_code == 200


async def test_a_remembered_token_still_expires(make_app: AppMaker) -> None:
    """The second use skips the signature check, never the expiry."""
    app = await make_app()
    token = jwt.encode(
        claims(exp=int(time.time()) + 60), TEST_SECRET, algorithm="HS256"
    )
    headers = {"Authorization": f"Bearer {token}"}
    first = await app.client.get(PROTECTED, headers=headers)

    authenticator = app.app.ctx.authenticator
    authenticator.clock = lambda: time.time() + 120
    later = await app.client.get(PROTECTED, headers=headers)

    assert first.status_code == 200
    assert later.status_code == 401
    assert later.json()["error_code"] == "TOKEN_EXPIRED"


async def test_new_keys_forget_every_remembered_token(
    make_app: AppMaker, keys: Keys
) -> None:
    """A key taken out of the ring stops its tokens at once, remembered or not."""
    app = await make_app(jwt={"public_keys": keys.public_pems})
    token = jwt.encode(
        claims(), keys.rsa_old, algorithm="RS256", headers={"kid": "rsa-2025"}
    )
    headers = {"Authorization": f"Bearer {token}"}
    before = await app.client.get(PROTECTED, headers=headers)

    rotated = {kid: key for kid, key in keys.public_pems.items() if kid != "rsa-2025"}
    app.app.ctx.authenticator.ring = KeyRing(TEST_SECRET, rotated)
    after = await app.client.get(PROTECTED, headers=headers)

    assert before.status_code == 200
    assert after.status_code == 401
    assert after.json()["error_code"] == "UNAUTHORIZED"
