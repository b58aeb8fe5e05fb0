"""Schemathesis against ``/api/v1/openapi.json``: for every operation, generated requests
(valid and invalid) never get a server error, and every answer matches the schema the
operation documents. Each operation is called with a token of a role it admits (a
resident, an officer, a manager, a partner agency...), so the fuzzing reaches the code
behind the access check, on a small world of its own."""

from __future__ import annotations

import os
import tempfile

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import checks

from portal import create_app
from portal.accounts.roles import Role
from portal.api.auth import _issue, create_client
from portal.core.access import access_of
from tests.factories.fixtures import make_staff

MAX_EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "25"))


def _spec() -> dict:
    """The OpenAPI document, read once at collection from an application of its own."""
    spare = create_app("test", instance_path=tempfile.mkdtemp(prefix="fuzz-"))
    return spare.test_client().get("/api/v1/openapi.json").get_json()


SCHEMA = schemathesis.openapi.from_dict(_spec())
OPERATIONS = sorted(result.ok().label for result in SCHEMA.get_all_operations())


@pytest.fixture
def tokens(district, resident):
    """A bearer token per kind of caller."""
    found = {"resident": _issue(user=resident).token}
    for role in (Role.OFFICER, Role.MANAGER, Role.REVIEWER, Role.ADMIN, Role.AUDITOR):
        extra = {"districts": [district]} if role is Role.OFFICER else {}
        found[role.value] = _issue(user=make_staff(role, **extra)).token
    client = create_client(None, name="Partner", credit_code="91450300MA5L7QXX3P", scopes=[])
    found["client"] = _issue(client=client.client).token
    return found


def caller(app, case) -> str | None:
    """The kind of caller the operation admits, by its declared access."""
    adapter = app.url_map.bind("portal.test")
    try:
        endpoint, _args = adapter.match(case.formatted_path, method=case.method.upper())
    except Exception:
        return None
    access = access_of(app.view_functions.get(endpoint))
    if access is None or access.public:
        return None
    if access.scope:
        return "client"
    if access.roles is None or Role.RESIDENT in access.roles:
        return "resident"
    for role in (Role.OFFICER, Role.MANAGER, Role.REVIEWER, Role.ADMIN, Role.AUDITOR):
        if role in access.roles:
            return role.value
    return None


@pytest.mark.parametrize("label", OPERATIONS)
def test_api(label, app, tokens):
    schema = SCHEMA.clone()
    schema.app = app
    operation = schema.find_operation_by_label(label)

    @given(data=st.data())
    @settings(max_examples=MAX_EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))
    def fuzz(data):
        case = data.draw(operation.as_strategy())
        who = caller(app, case)
        headers = {"Authorization": f"Bearer {tokens[who]}"} if who else {}
        case.call_and_validate(
            headers=headers,
            checks=[checks.not_a_server_error, checks.response_schema_conformance],
        )

    fuzz()
