"""Amazon Cognito JWT authentication, shared by REST (DRF) and WebSocket (``config.auth.websocket``).

A token is accepted only if it is signed with RS256 by a key of the user pool's JWKS, was issued by that pool,
is an ``access`` token whose ``client_id`` (or an ``id`` token whose ``aud``) is one of
``COGNITO_APP_CLIENT_IDS``, and has not expired (``COGNITO_LEEWAY_SECONDS`` of clock skew allowed).
The caller becomes a :class:`CognitoUser`, a non-database user whose owner id is the token's ``sub``.

Staff: a member of the ``COGNITO_ADMIN_GROUP`` group (``cognito:groups``), or a user linked to an active Django
account with ``is_staff`` — linked means the Django username equals the ``sub``, or the token carries a verified
``email`` (id tokens do; access tokens do not) equal to the Django account's email.
"""

import logging
from dataclasses import dataclass
from functools import cache
from typing import Any

import jwt
from django.conf import settings
from django.contrib.auth import get_user_model
from django.db.models import Q
from django.utils.translation import gettext_lazy as _
from rest_framework import authentication, exceptions

from config.errors import ApplicationError, NotAuthenticated, UpstreamUnavailable

logger = logging.getLogger(__name__)

ALGORITHM = "RS256"
JWKS_CACHE_SECONDS = 3600  # a key the cache does not know triggers a refetch anyway (rotation)
JWKS_TIMEOUT_SECONDS = 5


class TokenRejected(NotAuthenticated):
    """A token that is present but not acceptable; the code says why (``token_invalid`` or ``token_expired``)."""

    code = "token_invalid"


class AuthUnavailable(UpstreamUnavailable):
    """The pool's JWKS could not be fetched: the token may be fine, so this is not the caller's fault."""

    code = "auth_unavailable"
    message = "Sign-in cannot be verified right now; try again shortly."


@dataclass(frozen=True, eq=False)
class CognitoUser:
    """The caller of a request authenticated by a Cognito token (no database row)."""

    cognito_sub: str
    username: str
    email: str
    groups: tuple[str, ...]
    token_use: str
    is_staff: bool
    is_superuser: bool = False

    is_active = True
    is_authenticated = True
    is_anonymous = False

    @property
    def pk(self) -> str:
        return self.cognito_sub

    @property
    def id(self) -> str:
        return self.cognito_sub

    def get_username(self) -> str:
        return self.username

    def has_perm(self, perm: str, obj: Any = None) -> bool:
        return self.is_superuser

    def has_perms(self, perm_list: Any, obj: Any = None) -> bool:
        return self.is_superuser

    def has_module_perms(self, app_label: str) -> bool:
        return self.is_superuser

    def __str__(self) -> str:
        return self.username


def cognito_enabled() -> bool:
    return bool(settings.COGNITO_USER_POOL_ID and settings.COGNITO_APP_CLIENT_IDS)


def cognito_issuer() -> str:
    return f"https://cognito-idp.{settings.COGNITO_REGION}.amazonaws.com/{settings.COGNITO_USER_POOL_ID}"


def cognito_jwks_url() -> str:
    return settings.COGNITO_JWKS_URL or f"{cognito_issuer()}/.well-known/jwks.json"


def cognito_status_log() -> None:
    """Says once, at start-up, whether Bearer tokens are accepted and from which pool."""
    if cognito_enabled():
        logger.info(
            "Cognito JWT authentication is on: issuer %s, %d app client(s), keys from %s",
            cognito_issuer(),
            len(settings.COGNITO_APP_CLIENT_IDS),
            cognito_jwks_url(),
        )
    elif settings.COGNITO_USER_POOL_ID:
        logger.error(
            "Cognito JWT authentication is off: COGNITO_USER_POOL_ID is set but COGNITO_APP_CLIENT_IDS is empty"
        )
    else:
        logger.info("Cognito JWT authentication is off (COGNITO_USER_POOL_ID is not set); only sessions work")


@cache
def _jwks_client(url: str, cooldown: float) -> jwt.PyJWKClient:
    # One client per process: it caches the key set and refetches it once for an unknown ``kid`` (key rotation),
    # at most once per ``cooldown`` seconds, so a flood of made-up kids cannot hammer the pool's endpoint.
    return jwt.PyJWKClient(url, lifespan=JWKS_CACHE_SECONDS, timeout=JWKS_TIMEOUT_SECONDS, cooldown_duration=cooldown)


def jwks_client() -> jwt.PyJWKClient:
    return _jwks_client(cognito_jwks_url(), float(settings.COGNITO_JWKS_REFRESH_COOLDOWN_SECONDS))


def _signing_key(token: str) -> Any:
    try:
        header = jwt.get_unverified_header(token)
    except jwt.PyJWTError as exc:
        raise TokenRejected(_("The token is malformed.")) from exc
    if header.get("alg") != ALGORITHM:
        raise TokenRejected(f"The token must be signed with {ALGORITHM}.")
    kid = header.get("kid")
    if not isinstance(kid, str) or not kid:
        raise TokenRejected(_("The token has no key id."))
    try:
        return jwks_client().get_signing_key(kid).key
    except jwt.PyJWKClientConnectionError as exc:
        logger.warning("Cognito signing keys unavailable: %s", exc)
        raise AuthUnavailable() from exc
    except jwt.PyJWKClientError as exc:
        raise TokenRejected(_("The token is signed with an unknown key.")) from exc


def cognito_token_verify(token: str) -> dict[str, Any]:
    """The verified claims of a Cognito access or id token; raises TokenRejected or AuthUnavailable (blocking)."""
    if not cognito_enabled():
        raise TokenRejected(_("Bearer tokens are not accepted: Cognito is not configured on this server."))
    key = _signing_key(token)
    try:
        claims = jwt.decode(
            token,
            key,
            algorithms=[ALGORITHM],
            issuer=cognito_issuer(),
            leeway=settings.COGNITO_LEEWAY_SECONDS,
            options={"require": ["exp", "iss", "sub", "token_use"], "verify_aud": False},
        )
    except jwt.ExpiredSignatureError as exc:
        raise TokenRejected(_("The token has expired."), code="token_expired") from exc
    except jwt.InvalidIssuerError as exc:
        raise TokenRejected(_("The token was issued by another user pool.")) from exc
    except jwt.InvalidSignatureError as exc:
        raise TokenRejected(_("The token's signature is not valid.")) from exc
    except jwt.PyJWTError as exc:
        raise TokenRejected(f"The token is not valid: {exc}.") from exc

    kind = claims.get("token_use")
    if kind == "access":
        client_id = claims.get("client_id")
    elif kind == "id":
        client_id = claims.get("aud")
    else:
        raise TokenRejected(_("The token is neither an access nor an id token."))
    if client_id not in settings.COGNITO_APP_CLIENT_IDS:
        raise TokenRejected(_("The token was issued to another app client."))
    if not isinstance(claims.get("sub"), str) or not claims["sub"]:
        raise TokenRejected(_("The token has no subject."))
    return claims


def _linked_staff_account(*, sub: str, verified_email: str | None) -> Any:
    match = Q(username=sub)
    if verified_email:
        match |= Q(email__iexact=verified_email)
    return get_user_model().objects.filter(match, is_active=True, is_staff=True).first()


def cognito_user_from_claims(claims: dict[str, Any]) -> CognitoUser:
    """The user of verified claims (one database query unless the admin group already makes them staff)."""
    sub = claims["sub"]
    groups = claims.get("cognito:groups") or []
    groups = tuple(g for g in groups if isinstance(g, str)) if isinstance(groups, list) else ()
    email = claims.get("email") if isinstance(claims.get("email"), str) else ""
    verified_email = email if claims.get("email_verified") in (True, "true") else None
    in_admin_group = bool(settings.COGNITO_ADMIN_GROUP) and settings.COGNITO_ADMIN_GROUP in groups
    account = None if in_admin_group else _linked_staff_account(sub=sub, verified_email=verified_email)
    username = claims.get("username") or claims.get("cognito:username") or sub
    return CognitoUser(
        cognito_sub=sub,
        username=str(username),
        email=email,
        groups=groups,
        token_use=claims["token_use"],
        is_staff=in_admin_group or account is not None,
        is_superuser=bool(account is not None and account.is_superuser),
    )


def _bearer_token(header: list[bytes]) -> str:
    if len(header) != 2:
        raise TokenRejected(_("The Authorization header must be 'Bearer <token>'."))
    try:
        return header[1].decode("ascii")
    except UnicodeDecodeError as exc:
        raise TokenRejected(_("The token is malformed.")) from exc


class AuthenticationRefused(exceptions.APIException):
    """An ApplicationError raised while DRF authenticates.

    DRF unwinds a failed authentication (the caller becomes anonymous) only for its own exceptions, so the error
    rides in one; the exception handler renders ``error``. A 401 names the scheme (``WWW-Authenticate``).
    """

    def __init__(self, error: ApplicationError, *, challenge: str) -> None:
        super().__init__(error.message, error.code)
        self.status_code = error.status
        self.error = error
        if error.status == 401:
            self.auth_header = challenge


class CognitoJWTAuthentication(authentication.BaseAuthentication):
    """``Authorization: Bearer <Cognito access or id token>``. Other schemes are left to the next class."""

    keyword = "Bearer"

    def authenticate(self, request: Any) -> tuple[CognitoUser, str] | None:
        header = authentication.get_authorization_header(request).split()
        if not header or header[0].lower() != self.keyword.lower().encode():
            return None
        try:
            token = _bearer_token(header)
            claims = cognito_token_verify(token)
        except ApplicationError as error:
            raise AuthenticationRefused(error, challenge=self.authenticate_header(request)) from error
        return cognito_user_from_claims(claims), token

    def authenticate_header(self, request: Any) -> str:
        # Makes DRF answer 401 (not 403) to missing or refused credentials.
        return f'{self.keyword} realm="api"'
