"""Every consent write, one way in for every channel (API, WhatsApp, Meta, admin, commands).

Each service is one transaction. There is no global lock: appends to one contact's ledger are
serialised by a lock on that contact's row (SELECT ... FOR NO KEY UPDATE on PostgreSQL, held
to the end of the transaction; SQLite's IMMEDIATE transactions already serialise writers), so
appends for different customers run in parallel and one customer's decisions are projected in
the order they were made. Events are written without a position: the ledger's sequencer
(consent.log) gives them one and adds them to the signed Merkle tree a moment later. The
current-state row of each purpose is written in the same transaction as its event. A withdrawal
(opt-out, erasure) always takes effect at once, whatever its occurred_at (Meta's timestamps have
one-second resolution); a consent (opt-in, resubscribe) only when it did not occur before the
decision the state shows, so a back-dated import never overrides a newer opt-out.
"""
