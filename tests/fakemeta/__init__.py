"""A fake Meta Graph API for tests and benchmarks: `server.FakeMeta` (in-process, in a thread),
`python -m tests.fakemeta.server` (a separate process) and `server.ControlClient` for the latter.
The pytest fixture `fake_meta` lives in tests/fakemeta/fixtures.py."""
