"""Writes of the messaging app. Templates part: governance from draft to Meta approval.

Workflow of a revision (four eyes):  draft -> in_review -> approved -> submitted
                                               \\-> rejected
Every edit is a new revision (revisions are immutable content), so "who wrote this text" is one
person and can never be the one who approves it. Editing a template that is in use leaves the
revision in use (`approved_revision`) sending until the new revision is approved internally AND
submitted to Meta: Meta replaces the components as a whole on an edit and reviews them again, so
from that submission on, sends wait for Meta's new APPROVED.

Meta's pause, disable, flag, RED quality or a category change put the template on hold at once
(`hold_reason`, shown to staff with `attention_reason`) and call `template_hold_queued_messages`;
only a compliance officer releases a hold (`template_release_hold`), after Meta's status is
APPROVED again, so a template customers blocked or reported is looked at before it sends again.
"""
