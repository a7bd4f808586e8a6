"""Stored spec text ⇄ engine specs, with an in-memory cache of parsed specs.

Specs are stored as canonical JSON text. A text is immutable, so its parsed form can be cached
per process (no per-job state lives here): the decision path never re-validates a spec it has
seen.
"""

from __future__ import annotations

import hashlib
import json
from functools import lru_cache

from lrhub.schedules import Spec, parse_spec, spec_to_json

SPEC_CACHE_SIZE = 4096


def canonical_text(spec: Spec) -> str:
    """The canonical JSON text of a validated spec (all defaults filled, keys sorted)."""
    return json.dumps(spec_to_json(spec), sort_keys=True, separators=(",", ":"))


@lru_cache(maxsize=SPEC_CACHE_SIZE)
def load_spec(text: str) -> Spec:
    """The spec stored as `text` (parsed once per process), with the meaning it was stored with."""
    return parse_spec(json.loads(text), stored=True)


@lru_cache(maxsize=SPEC_CACHE_SIZE)
def spec_key(text: str) -> str:
    """A short identity of a stored spec: which spec a saved engine state belongs to."""
    return hashlib.sha256(text.encode()).hexdigest()


def spec_document(text: str) -> dict[str, object]:
    """The stored spec as a JSON object for answers."""
    document: dict[str, object] = json.loads(text)
    return document
