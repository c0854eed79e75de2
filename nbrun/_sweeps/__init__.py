"""Sweeps (issue 23): W&B's sweep configs, suggestions, agents and program runner."""
