"""The HTML pages the simulated Manager and CAS server answer."""

from __future__ import annotations

from html import escape

__all__ = [
    "AUTH_FAILED_TEXT",
    "LOCKED_TEXT",
    "error_page",
    "locked_page",
    "login_page",
    "modify_password_page",
    "password_change_page",
    "success_page",
]

AUTH_FAILED_TEXT = "The credentials you provided cannot be determined to be authentic."
LOCKED_TEXT = "The account has been locked because of too many failed login attempts."


def _page(title: str, body: str) -> bytes:
    return (
        '<!DOCTYPE html>\n<html><head><meta charset="utf-8">'
        f"<title>{escape(title)}</title></head>\n<body>\n{body}\n</body></html>\n"
    ).encode()


def error_page(status: int, reason: str, detail: str = "") -> bytes:
    """An HTML error page, as the Manager's servlet container answers."""
    text = f"<p>{escape(detail)}</p>" if detail else ""
    return _page(
        f"HTTP Status {status} - {reason}", f"<h1>HTTP Status {status} - {reason}</h1>{text}"
    )


def login_page(action: str, lt: str, message: str = "") -> bytes:
    """The CAS login form with the hidden login ticket ``lt``."""
    error = f'<div id="msg" class="errors">{escape(message)}</div>\n' if message else ""
    return _page(
        "FusionInsight Manager - Login",
        f'{error}<form id="fm1" action="{escape(action)}" method="post">\n'
        '<input id="username" name="username" type="text" value=""/>\n'
        '<input id="password" name="password" type="password" value=""/>\n'
        f'<input type="hidden" name="lt" value="{escape(lt)}"/>\n'
        '<input type="hidden" name="execution" value="e1s1"/>\n'
        '<input type="hidden" name="_eventId" value="submit"/>\n'
        '<input class="btn-submit" name="submit" type="submit" value="Login"/>\n'
        "</form>",
    )


def success_page() -> bytes:
    """The page CAS answers after a good login."""
    return _page(
        "FusionInsight Manager - Login",
        '<div id="msg" class="success"><h2>Log In Successful</h2>'
        "<p>You have successfully logged into the Central Authentication Service.</p></div>",
    )


def locked_page(minutes: int) -> bytes:
    """The page CAS answers while the account is locked."""
    return _page(
        "FusionInsight Manager - Login",
        f'<div id="msg" class="errors">{LOCKED_TEXT} Try again in {minutes} minute(s).</div>',
    )


def password_change_page(href: str) -> bytes:
    """The page that sends the user to change the password first."""
    return _page(
        "FusionInsight Manager - Change Password",
        "<p>The password has expired or must be changed at first login.</p>"
        f'<a href="{escape(href)}">Change the password (modify_password.html)</a>',
    )


def modify_password_page() -> bytes:
    """The password change form (not functional in the simulator)."""
    return _page(
        "FusionInsight Manager - Modify Password",
        '<form method="post"><input name="oldPassword" type="password"/>'
        '<input name="newPassword" type="password"/></form>',
    )
