"""An error page's "Back" keeps people in the face they were in: a client in its agency's
portal (when that portal exists), staff in the panel or console; otherwise the front page."""

from __future__ import annotations

import pytest

from rebill.entrypoints.web import back_link


@pytest.mark.parametrize(
    ("path", "branded", "back"),
    [
        ("/portal/acme/invoices/ACME-9", True, "/portal/acme"),
        ("/portal/acme", True, "/portal/acme"),
        ("/portal/no-such-agency/x", False, "/"),  # no portal to go back to
        ("/portal/a b/x", True, "/portal/a%20b"),  # the path as decoded
        ("/client/invoices/1", True, "/client"),
        ("/client/invoices/1", False, "/"),
        ("/panel/plans/nope", False, "/panel"),
        ("/console/agencies/x", False, "/console"),
        ("/invitations/abc", False, "/"),
        ("/", False, "/"),
    ],
)
def test_back_leads_to_the_home_of_the_face(path: str, branded: bool, back: str) -> None:
    assert back_link(path, branded) == back
