"""The stages of one sync cycle: pull → map → resolve → (score → handoff) → push.

Stages do not import each other; ``cycle`` is the one module that knows their order.
"""
