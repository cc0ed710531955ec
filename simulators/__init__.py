"""User simulators: one module per user model, each registering its env ids with recgym."""
