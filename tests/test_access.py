"""The access rules: who may look up what, and which parts they see."""

from __future__ import annotations

from bot.access import Viewer, decide, for_audience
from bot.providers.base import Audience, TicketView, ViewEntry, ViewField, Visibility

PUBLIC_DATA = Visibility(public_allowed=True)
PRIVATE_STAFF = Visibility(public_allowed=True, staff_only=True)
OWNER_SCOPED = Visibility(public_allowed=False)
MEMBER = Viewer(user_id=1, is_staff=False)
STAFF = Viewer(user_id=2, is_staff=True)


def test_answers_are_ephemeral_by_default():
    """Without public:true, every answer is ephemeral."""
    for visibility in (PUBLIC_DATA, PRIVATE_STAFF, OWNER_SCOPED):
        decision = decide(visibility, STAFF, public_requested=False)
        assert decision.allowed
        assert decision.ephemeral


def test_public_post_only_where_allowed():
    """public:true posts publicly for public data and is refused for owner-scoped data."""
    assert not decide(PUBLIC_DATA, MEMBER, public_requested=True).ephemeral
    refused = decide(OWNER_SCOPED, STAFF, public_requested=True)
    assert not refused.allowed
    assert refused.refusal == "public_not_allowed"


def test_staff_only_provider_refuses_members():
    """A staff-only provider refuses a member before any request."""
    refused = decide(PRIVATE_STAFF, MEMBER, public_requested=False)
    assert not refused.allowed
    assert refused.refusal == "staff_only"
    assert decide(PRIVATE_STAFF, STAFF, public_requested=False).audience is Audience.STAFF


def test_public_audience_never_sees_staff_parts():
    """A public post keeps public parts only; the staff answer keeps internal notes."""
    view = TicketView(
        provider="x",
        provider_label="X",
        ticket_id="1",
        title="t",
        description="customer email a@b.example",
        description_audience=Audience.STAFF,
        fields=(
            ViewField(name="Status", value="Open"),
            ViewField(name="Email", value="a@b.example", audience=Audience.STAFF),
        ),
        entries=(
            ViewEntry(author="agent", body="internal", audience=Audience.STAFF),
            ViewEntry(author="cust", body="hello", audience=Audience.REQUESTER),
        ),
    )
    public = for_audience(view, decide(PRIVATE_STAFF, STAFF, public_requested=True).audience)
    assert public.description == ""
    assert [f.name for f in public.fields] == ["Status"]
    assert public.entries == ()
    staff = for_audience(view, Audience.STAFF)
    assert [e.body for e in staff.entries] == ["internal", "hello"]
    assert staff.description == view.description
