"""Get MeltingSpot tokens from spot-sso, build the "from the app" link and the embed snippet.

Run: SPOT_SSO_API_KEY=<key> python examples/python/spot_sso.py  (needs httpx)
"""

from __future__ import annotations

import os
import sys
from html import escape
from typing import Any
from urllib.parse import urlencode

import httpx

PROBLEM_PREFIX = "urn:spot-sso:problem:"


class SpotSsoError(Exception):
    """spot-sso refused the request: an RFC 9457 problem document, or no answer at all."""

    def __init__(self, message: str, status: int | None = None, retry_after: int | None = None):
        super().__init__(message)
        self.status = status
        self.retry_after = retry_after  # seconds to wait, on 429


def issue_token(client: httpx.Client, body: dict[str, Any]) -> dict[str, Any]:
    """``POST /tokens``: the reply (``token``, ``expiresAt``, ``spot``, ``spotId``...)."""
    try:
        response = client.post("/tokens", json=body)
    except httpx.HTTPError as exc:
        where = str(client.base_url).rstrip("/")
        raise SpotSsoError(f"cannot reach {where}: {exc!r}") from exc
    if response.status_code == 200:
        try:
            return dict(response.json())
        except ValueError as exc:  # not JSON, or not an object
            raise SpotSsoError(f"200 (cannot read the reply: {exc})", 200) from exc
    raise problem_error(response)


def problem_error(response: httpx.Response) -> SpotSsoError:
    """The error for a non-200 answer, named by its problem document."""
    status = response.status_code
    retry = response.headers.get("Retry-After", "")
    retry_after = int(retry) if retry.isdigit() else None
    media_type = response.headers.get("Content-Type", "").split(";")[0].strip()
    if media_type != "application/problem+json":
        return SpotSsoError(f"{status} (not a problem document)", status, retry_after)
    try:
        problem = response.json()
    except ValueError:
        problem = None
    if not isinstance(problem, dict):
        return SpotSsoError(f"{status} (not a problem document)", status, retry_after)
    slug = str(problem.get("type", "")).removeprefix(PROBLEM_PREFIX)
    message = f"{status} {slug}: {problem.get('detail', '')}"
    if retry_after is not None:
        message += f" Retry after {retry_after} s."
    return SpotSsoError(f"{message} (request {problem.get('requestId', '')})", status, retry_after)


def app_link(base_url: str, spot: str, spot_id: str, page: str = "events") -> str:
    """The "from the app" link: spot-sso logs the user in and opens the Spot's ``page``."""
    query = urlencode({"spot": spot, "referrerUrl": f"/spot/{spot_id}/{page}"})
    return f"{base_url}/authorize?{query}"


def embed_snippet(widget_script: str, token: str) -> str:
    """The widget's installation snippet with the token as its ``authToken``."""
    return (
        f'<script src="{escape(widget_script)}" data-auth-token="{escape(token)}" async>'
        "</script>"
    )


def main() -> int:
    api_key = os.environ.get("SPOT_SSO_API_KEY")
    if not api_key:
        print("spot-sso error: set SPOT_SSO_API_KEY to the API client's key", file=sys.stderr)
        return 2
    base_url = os.environ.get("SPOT_SSO_URL", "http://127.0.0.1:8000").rstrip("/")
    user_id = os.environ.get("SPOT_SSO_USER_ID", "u-ada")
    widget_script = os.environ.get("SPOT_WIDGET_SCRIPT", f"{base_url}/demo/spot/widget.js")
    spot = {"spot": os.environ["SPOT_SSO_SPOT"]} if os.environ.get("SPOT_SSO_SPOT") else {}
    grace = {
        "sub": "u-2001",
        "firstName": "Grace",
        "lastName": "Hopper",
        "email": "grace@example.com",
        "lang": "en",
        "timezone": "America/New_York",
    }
    headers = {"Authorization": f"Bearer {api_key}"}
    with httpx.Client(base_url=base_url, headers=headers, timeout=5.0) as client:
        try:
            by_id = issue_token(client, {**spot, "userId": user_id})
            print(f"token by userId {user_id}: {by_id['token']} (expires {by_id['expiresAt']})")
            by_user = issue_token(client, {**spot, "user": grace})
            expires = by_user["expiresAt"]
            print(f"token by user {grace['sub']}: {by_user['token']} (expires {expires})")
        except SpotSsoError as exc:
            print(f"spot-sso error: {exc}", file=sys.stderr)
            return 1
    print(f"link: {app_link(base_url, by_id['spot'], by_id['spotId'])}")
    print(f"embed: {embed_snippet(widget_script, by_id['token'])}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
