"""The columns of the ``session`` observation: written by session-aware simulators, read by policies.

Both sides name a column through ``SESSION_COLUMNS`` instead of hard-coding its position, so a
simulator that adds or reorders columns cannot silently change what a policy reads.
"""

SESSION_COLUMNS = ("horizon_elapsed", "session_index", "session_step", "last_gap")
"""Fraction of the horizon elapsed, session index / 100, steps in this session / 100, last absence / return gap."""

SESSION_STEP = SESSION_COLUMNS.index("session_step")
"""Column of ``observation['session']`` that is 0 on a session's first step."""
