"""Sentence vectors for knowledge: WordLlama's 256-dimension model, whose weights ship inside the
``wordllama`` wheel, so nothing is fetched at run time.

WordLlama looks for its tokenizer file under ``tokenizer/`` beside its code while the wheel puts
it under ``tokenizers/``; it also looks in a cache folder's ``tokenizers/``, so the file is copied
there once (``<cache>/wordllama/tokenizers/``) and the model is loaded with downloads disabled.
Loading takes about 0.2 s and happens once per process; a thousand sentences embed in tens of
milliseconds on one core. Vectors come back as float32 rows of unit length, so a dot product is
their cosine similarity.
"""

from __future__ import annotations

import shutil
import threading
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from ..errors import BackendUnavailable

CONFIG = "l2_supercat"
DIMENSIONS = 256
_model: Any = None
_lock = threading.Lock()


def model(cache: Path) -> Any:
    """The loaded WordLlama model (once per process)."""
    global _model
    with _lock:
        if _model is None:
            try:
                import wordllama
                from wordllama import WordLlama
            except ImportError as error:
                raise BackendUnavailable(f"knowledge needs the wordllama package ({error}) — "
                                         "pip install -r requirements.txt") from None
            folder = Path(cache) / "wordllama"
            bundled = Path(wordllama.__file__).parent / "tokenizers"
            (folder / "tokenizers").mkdir(parents=True, exist_ok=True)
            for tokenizer in bundled.glob(f"{CONFIG}_*"):
                target = folder / "tokenizers" / tokenizer.name
                if not target.exists():
                    shutil.copyfile(tokenizer, target)
            try:
                _model = WordLlama.load(config=CONFIG, dim=DIMENSIONS, cache_dir=folder, disable_download=True)
            except (FileNotFoundError, OSError, ValueError) as error:
                raise BackendUnavailable(f"the bundled WordLlama model could not be loaded ({error})") from None
        return _model


def embed(cache: Path, texts: Sequence[str]) -> np.ndarray:
    """One unit-length float32 row per text (a text with no known word is a zero row)."""
    if not texts:
        return np.zeros((0, DIMENSIONS), np.float32)
    vectors = np.asarray(model(cache).embed(list(texts)), np.float32)
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return np.divide(vectors, norms, out=np.zeros_like(vectors), where=norms > 0)
