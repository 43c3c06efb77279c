"""Every complaint write: intake, workflow, assignment, escalation, notes, outcomes, clocks.

Each service is one transaction that also appends the ComplaintAction describing it (the
timeline is the complaint's legal record; django-auditlog adds field history on top). Roles are
checked here, not only in the admin: Support agents investigate (`investigate_complaint`:
acknowledge, investigate, await the customer, note, take a complaint), Compliance officers also
resolve, close and reopen (`resolve_complaint`), escalate (`escalate_complaint`) and assign
anyone (`assign_complaint`); Auditors only read. System actors (tasks, webhooks, commands) pass.

A complaint always commits before its acknowledgement is attempted: the attempt runs on
commit, and whatever happens to it the complaint is kept (a failed attempt leaves it owed).
"""
