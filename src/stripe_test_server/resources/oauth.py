"""Connect OAuth for Standard accounts that already exist: authorization codes, the token
exchange (and refresh), and deauthorization, with OAuth's own error shape."""

from __future__ import annotations

from stripe_test_server.resources.accounts import Accounts
from stripe_test_server.state import Ctx, State
from stripe_test_server.values import Obj, new_id


class OAuthError(Exception):
    """OAuth errors have their own shape: `{"error": "...", "error_description": "..."}`."""

    def __init__(self, error: str, description: str, status: int = 400) -> None:
        super().__init__(description)
        self.error = error
        self.description = description
        self.status = status

    def body(self) -> Obj:
        return {"error": self.error, "error_description": self.description}


class OAuth:
    def __init__(self, state: State, accounts: Accounts) -> None:
        self.state = state
        self.accounts = accounts

    def create_oauth_code(self, account_id: str | None = None, *, country: str = "US") -> str:
        if account_id is None:
            platform_ctx = Ctx(self.state.platform_id, True)
            account = self.accounts.create_account(
                platform_ctx, {"type": "standard", "country": country}, onboarded=True
            )
            account_id = account["id"]
            self.state.connected.discard(account_id)  # connected only once the code is exchanged
        code = new_id("ac_", 24)
        self.state.oauth_codes[code] = {"account": account_id, "used": False}
        return code

    def oauth_token(self, params: Obj) -> Obj:
        grant = params.get("grant_type")
        if grant == "refresh_token":
            account_id = self.state.refresh_tokens.get(str(params.get("refresh_token")))
            if account_id is None or account_id not in self.state.connected:
                raise OAuthError("invalid_grant", "Invalid refresh token")
        elif grant == "authorization_code":
            account_id = self._redeem_code(str(params.get("code") or ""))
        else:
            raise OAuthError("unsupported_grant_type", f"Unsupported grant type: {grant}")
        self.state.connected.add(account_id)
        access = new_id("sk_test_", 32)
        refresh = new_id("rt_", 32)
        self.state.access_tokens[access] = account_id
        self.state.refresh_tokens[refresh] = account_id
        return {
            "access_token": access,
            "livemode": False,
            "refresh_token": refresh,
            "scope": str(params.get("scope") or "read_write"),
            "stripe_publishable_key": new_id("pk_test_", 32),
            "stripe_user_id": account_id,
            "token_type": "bearer",
        }

    def _redeem_code(self, code: str) -> str:
        """The account behind an unused authorization code, the code then used."""
        codes = self.state.oauth_codes
        entry = codes.get(code)
        if entry is None and code.startswith("ac_test"):
            self.create_oauth_code()  # a free-form test code: a new Standard account
            entry = codes.pop(next(reversed(codes)))
            codes[code] = entry
        if entry is None:
            raise OAuthError("invalid_grant", f"Authorization code does not exist: {code}")
        if entry["used"]:
            raise OAuthError("invalid_grant", f"Authorization code already used: {code}")
        entry["used"] = True
        return str(entry["account"])

    def oauth_deauthorize(self, ctx: Ctx, params: Obj) -> Obj:
        account_id = str(params.get("stripe_user_id") or "")
        if account_id not in self.state.connected:
            raise OAuthError("invalid_client", f"No such user: {account_id}")
        self.state.emit(ctx, account_id, "account.application.deauthorized", {"id": new_id("ca_")})
        self.state.connected.discard(account_id)
        for token, owner in list(self.state.access_tokens.items()):
            if owner == account_id:
                del self.state.access_tokens[token]
        return {"stripe_user_id": account_id}
