"""A real OpenID Connect provider on loopback for the dashboard's OIDC login tests, built with Authlib.

Authorization-code flow with PKCE (S256 required: a request without it is refused, and the token endpoint
checks the verifier with Authlib's RFC 7636 helper), client authentication (basic or post), a discovery
document, a JWKS and RS256-signed ID tokens (Authlib's JOSE). It signs one user in without a login page
(``user`` claims). ``mode`` makes the next ID tokens bad on purpose: ``expired``, ``wrong_audience`` or
``bad_signature`` (signed with a key the JWKS does not hold). ``log`` records what was asked and checked.
"""

from __future__ import annotations

import base64
import json
import secrets
import threading
import time
import warnings
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

from authlib.oauth2.rfc7636 import create_s256_code_challenge

with warnings.catch_warnings():  # Authlib's JOSE module points at joserfc for 2.0; it is the Authlib API today
    warnings.simplefilter("ignore")
    from authlib.jose import JsonWebKey, jwt

MODES = ("ok", "expired", "wrong_audience", "bad_signature")


class OidcProvider:
    def __init__(self, client_id: str, client_secret: str, redirect_uri: str, user: dict[str, Any]) -> None:
        self.client_id, self.client_secret, self.redirect_uri, self.user = client_id, client_secret, redirect_uri, user
        self.mode = "ok"
        self.log: list[str] = []
        self._key = JsonWebKey.generate_key("RSA", 2048, is_private=True, options={"kid": "k1"})
        self._rogue = JsonWebKey.generate_key("RSA", 2048, is_private=True, options={"kid": "k1"})
        self._codes: dict[str, dict[str, Any]] = {}
        provider = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:  # quiet
                pass

            def _send(self, status: int, body: Any = None, headers: dict[str, str] | None = None) -> None:
                data = json.dumps(body).encode() if body is not None else b""
                self.send_response(status)
                for key, value in (headers or {}).items():
                    self.send_header(key, value)
                if body is not None:
                    self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self) -> None:  # noqa: N802
                parts = urlsplit(self.path)
                query = {k: v[0] for k, v in parse_qs(parts.query).items()}
                if parts.path == "/.well-known/openid-configuration":
                    self._send(200, provider.discovery())
                elif parts.path == "/jwks":
                    self._send(200, {"keys": [provider._key.as_dict(is_private=False)]})
                elif parts.path == "/authorize":
                    status, headers = provider.authorize(query)
                    self._send(status, None, headers)
                else:
                    self._send(404, {"error": "not_found"})

            def do_POST(self) -> None:  # noqa: N802
                length = int(self.headers.get("Content-Length") or 0)
                form = {k: v[0] for k, v in parse_qs(self.rfile.read(length).decode()).items()}
                if urlsplit(self.path).path != "/token":
                    self._send(404, {"error": "not_found"})
                    return
                status, body = provider.token(form, self.headers.get("Authorization"))
                self._send(status, body, {"Cache-Control": "no-store"})

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.issuer = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def discovery(self) -> dict[str, Any]:
        return {
            "issuer": self.issuer,
            "authorization_endpoint": f"{self.issuer}/authorize",
            "token_endpoint": f"{self.issuer}/token",
            "jwks_uri": f"{self.issuer}/jwks",
            "response_types_supported": ["code"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "scopes_supported": ["openid", "profile", "email"],
            "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
            "code_challenge_methods_supported": ["S256"],
            "claims_supported": ["sub", "email", "name", "groups"],
        }

    def authorize(self, query: dict[str, str]) -> tuple[int, dict[str, str]]:
        if query.get("client_id") != self.client_id or query.get("redirect_uri") != self.redirect_uri:
            self.log.append("authorize refused: client or redirect_uri")
            return 400, {}
        if query.get("response_type") != "code" or query.get("code_challenge_method") != "S256" \
                or not query.get("code_challenge"):
            self.log.append("authorize refused: no PKCE S256")
            return 400, {}
        code = secrets.token_urlsafe(24)
        self._codes[code] = {"challenge": query["code_challenge"], "nonce": query.get("nonce"), "at": time.time()}
        self.log.append("authorize: code issued (PKCE S256)")
        back = {"code": code, **({"state": query["state"]} if "state" in query else {})}
        return 302, {"Location": f"{self.redirect_uri}?{urlencode(back)}"}

    def _client_ok(self, form: dict[str, str], authorization: str | None) -> bool:
        if authorization and authorization.startswith("Basic "):
            client_id, _, secret = base64.b64decode(authorization[6:]).decode().partition(":")
        else:
            client_id, secret = form.get("client_id", ""), form.get("client_secret", "")
        from urllib.parse import unquote

        return unquote(client_id) == self.client_id and unquote(secret) == self.client_secret

    def token(self, form: dict[str, str], authorization: str | None) -> tuple[int, dict[str, Any]]:
        if not self._client_ok(form, authorization):
            self.log.append("token refused: client authentication")
            return 401, {"error": "invalid_client"}
        grant = self._codes.pop(form.get("code", ""), None)
        if form.get("grant_type") != "authorization_code" or grant is None \
                or form.get("redirect_uri") != self.redirect_uri:
            self.log.append("token refused: grant")
            return 400, {"error": "invalid_grant"}
        if create_s256_code_challenge(form.get("code_verifier", "")) != grant["challenge"]:
            self.log.append("token refused: PKCE verifier")
            return 400, {"error": "invalid_grant"}
        now = int(time.time())
        claims = {"iss": self.issuer, "sub": self.user.get("sub", "user-1"), "aud": self.client_id,
                  "iat": now, "exp": now + 300, **({"nonce": grant["nonce"]} if grant["nonce"] else {}), **self.user}
        key = self._key
        if self.mode == "expired":
            claims.update(iat=now - 7200, exp=now - 3600)
        elif self.mode == "wrong_audience":
            claims["aud"] = "another-client"
        elif self.mode == "bad_signature":
            key = self._rogue
        id_token = jwt.encode({"alg": "RS256", "kid": "k1"}, claims, key).decode()
        self.log.append(f"token: id_token issued ({self.mode}, PKCE verified)")
        return 200, {"access_token": secrets.token_urlsafe(24), "token_type": "Bearer", "expires_in": 300,
                     "id_token": id_token, "scope": "openid profile email"}
