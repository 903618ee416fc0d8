"""Lead scoring and lifecycle stages, computed on the unified customer record (docs/scoring.md)."""

from __future__ import annotations

from smarketing_sync.scoring.compute import Contribution, Score, decay_factor, score
from smarketing_sync.scoring.lifecycle import Facts, Transition, evaluate, what_next
from smarketing_sync.scoring.load import find_scoring_file, load_model, model_version
from smarketing_sync.scoring.model import ACTIVITY_TYPES, DETOURS, STAGES, ScoringModel

__all__ = [
    "ACTIVITY_TYPES",
    "DETOURS",
    "STAGES",
    "Contribution",
    "Facts",
    "Score",
    "ScoringModel",
    "Transition",
    "decay_factor",
    "evaluate",
    "find_scoring_file",
    "load_model",
    "model_version",
    "score",
    "what_next",
]
