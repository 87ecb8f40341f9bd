"""Sign-in links: signed apart from bearer tokens, short-lived, for admins and interviewers."""

from __future__ import annotations

import time

import pytest

from gateway.auth import Role, issue_token, verify_token
from gateway.errors import AuthError, ErrorCode
from gateway.login import issue_login_token, login_url, verify_login_token

SECRET = "unit-secret-0123456789abcdef-0123456789"


def test_round_trip_keeps_role_name_and_a_unique_id() -> None:
    first = verify_login_token(SECRET, issue_login_token(SECRET, Role.ADMIN, name="Ana"))
    second = verify_login_token(SECRET, issue_login_token(SECRET, "interviewer"))
    assert first.role is Role.ADMIN and first.name == "Ana"
    assert second.role is Role.INTERVIEWER and second.name is None
    assert first.jti != second.jti


def test_links_and_bearer_tokens_never_pass_for_each_other() -> None:
    link = issue_login_token(SECRET, Role.ADMIN)
    with pytest.raises(AuthError):
        verify_token(SECRET, link)
    with pytest.raises(AuthError):
        verify_login_token(SECRET, issue_token(SECRET, Role.ADMIN))


def test_expired_and_foreign_links_are_refused() -> None:
    old = issue_login_token(SECRET, Role.ADMIN, ttl_s=60, now=time.time() - 3600)
    with pytest.raises(AuthError) as err:
        verify_login_token(SECRET, old)
    assert err.value.code == ErrorCode.TOKEN_EXPIRED
    foreign = issue_login_token("another-secret-0123456789-0123456789abc", Role.ADMIN)
    with pytest.raises(AuthError):
        verify_login_token(SECRET, foreign)


def test_candidates_get_no_sign_in_links() -> None:
    with pytest.raises(ValueError):
        issue_login_token(SECRET, Role.CANDIDATE)


def test_the_token_travels_in_the_fragment() -> None:
    assert login_url("http://gw:8080/", "abc") == "http://gw:8080/login#token=abc"
