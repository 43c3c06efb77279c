"""Meta's webhooks, the inbound pipeline (DESIGN.md "Webhooks from Meta"):

- views.py: the endpoint (signature on the raw bytes, 400 only for bytes that are not JSON);
- intake.py: durable, encrypted store of the body; typed items, deduplicated by Meta's ids;
  opt-outs applied before the answer;
- drain.py: the workers apply the rest (statuses in batches), the sweep finishes what a crash
  left; replay of dead-lettered items;
- router.py: each item to the apps' services, in its own transaction;
- keywords.py: the consent-keyword match, once, at intake.

Payloads are read by pandorakart_wa.whatsapp.inbound, once.
"""
