"""Fixtures of the conversations tests."""

import pytest

# Callers of the REST tests (test_export, test_feedback, test_search, test_retention): Cognito tokens.
ALICE, BOB = "sub-alice", "sub-bob"


@pytest.fixture
def as_alice(cognito):
    return cognito.headers(sub=ALICE)


@pytest.fixture
def as_bob(cognito):
    return cognito.headers(sub=BOB)


@pytest.fixture
def as_staff(cognito):
    return cognito.headers(sub="sub-staff", groups=["admin"])
