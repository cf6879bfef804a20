"""Keeps the scores ``transformers.generate`` samples from usable, whatever the request asked.

Some ``generate`` options can break the scores between the model and the sampler even with
bounded values: ``exponential_decay_length_penalty`` grows the end-of-sequence score
exponentially (to infinity in a long generation) and adds ``inf`` to an end-of-sequence that
``min_new_tokens`` already set to ``-inf`` (NaN); ``suppress_tokens``, ``bad_words_ids`` and
``forced_eos_token_id`` together can forbid every token. ``torch.multinomial`` then fails with
a ``RuntimeError``, which would be a 500. :class:`ScoreGuard` runs after ``generate``'s own
processors and before its sampling warpers (temperature, top-k...): NaN becomes ``-inf`` (the
token is not allowed) and scores are clipped to ``±SCORE_LIMIT``, far from float32's end, so the
warpers that follow stay finite; a row with no allowed token left raises
:class:`~kaito.inference.engines.base.EngineInputError` (a 400).
"""

from __future__ import annotations

import torch
from transformers import LogitsProcessor

from kaito.inference.engines.base import EngineInputError

SCORE_LIMIT = 1e30
"""Largest score magnitude passed on; divided by the smallest temperature (0.01) it stays
well inside float32 (about 3.4e38)."""

NO_TOKEN_LEFT = (
    "No token can be generated: the request's generate_kwargs (suppress_tokens, bad_words_ids, "
    "forced_eos_token_id, min_new_tokens...) leave every token of the vocabulary forbidden"
)


class ScoreGuard(LogitsProcessor):
    """NaN to ``-inf``, clip to ``±SCORE_LIMIT``; refuse when every token is forbidden."""

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.FloatTensor:
        forbidden = torch.isnan(scores) | (scores == float("-inf"))
        if bool(forbidden.all(dim=-1).any()):
            raise EngineInputError(NO_TOKEN_LEFT)
        clipped = scores.clamp(-SCORE_LIMIT, SCORE_LIMIT).masked_fill(forbidden, float("-inf"))
        return clipped  # type: ignore[return-value]
