"""The lab: how ganforge is measured, apart from what it does.

Benchmarks (``ganforge-bench``, ``ganforge-bench-data``), the README's results suites (``ganforge-results``), the
sweep-summary command for an existing sweep (``ganforge-summary``) and research checks (``labelfree_check``). The
lab imports the core (``ganforge.train``, ``ganforge.runs``, ...); nothing in the core imports the lab
(tests/test_layout.py checks it), so the core trains, evaluates and samples without it.
"""
