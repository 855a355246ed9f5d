"""Problem details stay valid JSON whatever a request put in the message they quote."""

from __future__ import annotations

import json

from cc_common.problems import FieldProblem, problem_response


def test_a_lone_surrogate_in_a_message_still_renders_a_problem() -> None:
    bad = "country '\udb77' is not an ISO 3166 code like FR"
    response = problem_response(
        422, bad, instance="/v1/x\udc80", errors=[FieldProblem(loc=["body"], msg=bad, type="v")]
    )
    body = json.loads(bytes(response.body))
    assert response.status_code == 422
    assert body["detail"] == "country '?' is not an ISO 3166 code like FR"
    assert body["instance"] == "/v1/x?"
