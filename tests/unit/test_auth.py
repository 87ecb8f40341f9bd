from __future__ import annotations

import time
import uuid

import jwt
import pytest

from gateway.auth import Role, authorize, issue_token, verify_token
from gateway.errors import AuthError, ErrorCode, ForbiddenError

SECRET = "unit-secret-0123456789abcdef-0123456789"


def test_round_trip_keeps_role_and_session() -> None:
    sid = uuid.uuid4()
    claims = verify_token(SECRET, issue_token(SECRET, Role.CANDIDATE, session_id=sid))
    assert claims.role is Role.CANDIDATE
    assert claims.session_id == sid


def test_admin_and_account_interviewer_need_no_session_but_candidates_do() -> None:
    admin = verify_token(SECRET, issue_token(SECRET, "admin"))
    assert admin.session_id is None and admin.account_level
    account = verify_token(SECRET, issue_token(SECRET, "interviewer"))
    assert account.session_id is None and account.account_level
    scoped = verify_token(SECRET, issue_token(SECRET, "interviewer", session_id=uuid.uuid4()))
    assert not scoped.account_level
    with pytest.raises(ValueError):
        issue_token(SECRET, "candidate")


def test_account_interviewer_reaches_every_session_but_not_candidate_routes() -> None:
    account = verify_token(SECRET, issue_token(SECRET, Role.INTERVIEWER))
    sid = uuid.uuid4()
    assert authorize(account, {Role.INTERVIEWER}, sid) is account
    with pytest.raises(ForbiddenError):
        authorize(account, {Role.CANDIDATE}, sid)


def test_expired_token_is_refused_with_its_own_code() -> None:
    old = issue_token(SECRET, Role.ADMIN, ttl_s=60, now=time.time() - 3600)
    with pytest.raises(AuthError) as err:
        verify_token(SECRET, old)
    assert err.value.code == ErrorCode.TOKEN_EXPIRED


def test_forged_signature_is_refused() -> None:
    forged = issue_token("another-secret-0123456789-0123456789abc", Role.ADMIN)
    with pytest.raises(AuthError):
        verify_token(SECRET, forged)


def test_alg_none_is_refused() -> None:
    unsigned = jwt.encode(
        {"role": "admin", "iat": int(time.time()), "exp": int(time.time()) + 60},
        key=None,
        algorithm="none",
    )
    with pytest.raises(AuthError):
        verify_token(SECRET, unsigned)


def test_missing_claims_and_bad_role_are_refused() -> None:
    now = int(time.time())
    no_exp = jwt.encode({"role": "admin", "iat": now}, SECRET, algorithm="HS256")
    bad_role = jwt.encode({"role": "root", "iat": now, "exp": now + 60}, SECRET, algorithm="HS256")
    no_sid = jwt.encode(
        {"role": "candidate", "iat": now, "exp": now + 60}, SECRET, algorithm="HS256"
    )
    for token in (no_exp, bad_role, no_sid, "not-a-jwt"):
        with pytest.raises(AuthError):
            verify_token(SECRET, token)


def test_authorize_checks_role_and_session_scope() -> None:
    sid, other = uuid.uuid4(), uuid.uuid4()
    interviewer = verify_token(SECRET, issue_token(SECRET, Role.INTERVIEWER, session_id=sid))
    assert authorize(interviewer, {Role.INTERVIEWER}, sid) is interviewer
    with pytest.raises(ForbiddenError):
        authorize(interviewer, {Role.INTERVIEWER}, other)
    with pytest.raises(ForbiddenError):
        authorize(interviewer, {Role.CANDIDATE}, sid)
    admin = verify_token(SECRET, issue_token(SECRET, Role.ADMIN))
    assert authorize(admin, {Role.CANDIDATE}, other) is admin
