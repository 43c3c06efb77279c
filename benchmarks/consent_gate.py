"""The bulk consent gate: decisions for N contacts in one query vs one contact at a time.

Loads N contacts (5 % blocked) with marketing consent (3 in 4 opted in, the rest opted out)
into the separate database pk_bench_consent, then times, in the same run:
  - consent_decisions(contact_ids=all N, purpose="marketing")   (one query)
  - consent_decisions(digests=all N, ...)                         (one query, by phone digest)
  - consent_decision_for_contact(id, ...) for each contact        (N queries)
Targets: N = 100,000 bulk under 1 s, and at least 50x faster than one at a time.

    .venv/bin/python benchmarks/consent_gate.py --contacts 100000
"""

from __future__ import annotations

import argparse
import statistics
import time

from consent_common import load_contacts, load_ledger, setup, truncate_consent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--contacts", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()

    setup()
    from consent.models import Contact
    from consent.selectors import consent_decision_for_contact, consent_decisions

    truncate_consent()
    t0 = time.perf_counter()
    ids = load_contacts(args.contacts)
    # one opt-in per contact, then a second event for each (3 in 4 stay in, 1 in 4 opt out)
    load_ledger(ids, 2 * len(ids))
    print(f"loaded {len(ids):,} contacts and {2 * len(ids):,} ledger events in {time.perf_counter() - t0:.1f} s")
    digests = list(Contact.objects.order_by("id").values_list("phone_digest", flat=True))

    bulk_times, digest_times = [], []
    for _ in range(args.repeat):
        t = time.perf_counter()
        decisions = consent_decisions(contact_ids=ids, purpose="marketing")
        bulk_times.append(time.perf_counter() - t)
        t = time.perf_counter()
        by_digest = consent_decisions(digests=digests, purpose="marketing")
        digest_times.append(time.perf_counter() - t)
    reasons: dict[str | None, int] = {}
    for decision in decisions.values():
        reasons[decision.reason] = reasons.get(decision.reason, 0) + 1
    assert len(decisions) == len(ids) and len(by_digest) == len(ids)

    t = time.perf_counter()
    singles = {cid: consent_decision_for_contact(cid, "marketing") for cid in ids}
    single_total = time.perf_counter() - t
    assert singles == decisions, "bulk and one-at-a-time disagree"

    bulk = statistics.median(bulk_times)
    print(f"decisions: {reasons}")
    print(f"bulk by id      : median {bulk * 1000:8.1f} ms  (min {min(bulk_times) * 1000:.1f}, runs {args.repeat})")
    print(f"bulk by digest  : median {statistics.median(digest_times) * 1000:8.1f} ms")
    print(f"one at a time   : {single_total * 1000:8.1f} ms  ({single_total / len(ids) * 1e6:.0f} us per contact)")
    print(f"speed-up        : {single_total / bulk:.0f}x   target >= 50x and bulk < 1000 ms: "
          f"{'MET' if single_total / bulk >= 50 and bulk < 1 else 'NOT MET'}")


if __name__ == "__main__":
    main()
