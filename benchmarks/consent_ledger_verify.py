"""verify_consent_ledger over a large ledger: wall time and peak memory (it must stream).

Loads EVENTS ledger events (1 in 10 with evidence) over 10,000 contacts into the separate
database BENCH_DB (default pk_bench_consent), sequenced into the log's Merkle tree (tiles and
head as the sequencer writes them) with a signed checkpoint every --checkpoint-every events,
each in the database and in the checkpoint directory; with --legacy they are instead the old
hash chain turned into the log's first leaves (chain checks as well). Then it runs
`manage.py verify_consent_ledger` as its own process (leaves, tree, every checkpoint's
signature and root, the stored tiles and head, a consistency proof) and reports its wall time,
events/s and peak RSS, beside the peak RSS of a bare Django process (the same settings, no
verification), both measured by GNU time so the verification's own share shows.

    .venv/bin/python benchmarks/consent_ledger_verify.py --events 1000000
"""

from __future__ import annotations

import argparse
import resource
import subprocess
import sys
import tempfile
import time

from consent_common import ROOT, bench_env, load_contacts, load_ledger, setup, truncate_consent


def run_measured(args: list[str]) -> tuple[float, float, subprocess.CompletedProcess[str]]:
    """(wall seconds, peak RSS MiB, result) of a child process, measured by GNU time: a child
    forked from this (large) loader process would inherit its peak RSS in ru_maxrss."""
    with tempfile.NamedTemporaryFile("r", suffix=".time") as report:
        start = time.perf_counter()
        result = subprocess.run(["/usr/bin/time", "-f", "%M", "-o", report.name, *args], cwd=ROOT, env=bench_env(),
                                capture_output=True, text=True, check=False)
        wall = time.perf_counter() - start
        peak_kib = int(report.read().strip().splitlines()[-1])
    return wall, peak_kib / 1024, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--contacts", type=int, default=10_000)
    parser.add_argument("--checkpoint-every", type=int, default=10_000, help="events between signed checkpoints")
    parser.add_argument("--legacy", action="store_true", help="events of the old hash chain, migrated into the log")
    parser.add_argument("--reuse", action="store_true", help="verify the ledger already loaded")
    args = parser.parse_args()

    setup()
    from consent.models import ConsentEvent, LedgerVerification

    if not args.reuse or ConsentEvent.objects.count() != args.events:
        truncate_consent()
        t0 = time.perf_counter()
        ids = load_contacts(args.contacts)
        checkpoints = load_ledger(ids, args.events, purposes=("marketing", "order_updates", "support",
                                                              "account_security"),
                                  states=False, legacy=args.legacy, checkpoint_every=args.checkpoint_every)
        kind = "hash-chain events migrated into the log" if args.legacy else "events"
        print(f"loaded {args.events:,} {kind} over {len(ids):,} contacts, {checkpoints} checkpoints (database and "
              f"directory) in {time.perf_counter() - t0:.0f} s")
    LedgerVerification.objects.all().delete()  # no checkpoint from an earlier run

    python = sys.executable
    _, base_rss, _ = run_measured([python, "manage.py", "shell", "-c", "import consent.selectors"])
    wall, rss, result = run_measured([python, "manage.py", "verify_consent_ledger"])
    print((result.stdout + result.stderr).strip())
    print(f"exit code       : {result.returncode}")
    print(f"events          : {args.events:,}")
    print(f"wall time       : {wall:.1f} s  ({args.events / wall:,.0f} events/s, including Django start-up)")
    print(f"peak RSS        : {rss:.0f} MiB  (bare Django process: {base_rss:.0f} MiB, so verification adds "
          f"{rss - base_rss:.0f} MiB)")
    print(f"benchmark peak  : {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB (loader)")


if __name__ == "__main__":
    main()
