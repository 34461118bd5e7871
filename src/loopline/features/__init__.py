"""Features: the preprocessing pipeline and the reference profile that monitoring compares against.

``build_preprocessor(schema, features, spec=..., task=..., for_model="linear" | "tree")`` returns an
unfitted :class:`Preprocessor`, a scikit-learn transformer built from the schema's column kinds:
imputation and scaling for numbers, categories the way each learner likes them (one-hot up to
``features.high_cardinality`` values for linear models, LightGBM's native category codes up to
``features.native_max_levels`` for trees, out-of-fold target encoding or hashing beyond), calendar
features for timestamps and hashed TF-IDF for text. Its fitted state is plain JSON (``get_state`` /
``from_state``), never pickle.

:class:`Profile` records what the training data looked like (quantiles, histograms, category
shares, missing shares, the label rate; weighted to undo sampling when weights are given) for drift
checks later; :class:`PredictionProfile` records what the model's scores looked like.
"""

from __future__ import annotations

from loopline.features._encoder import Matrix
from loopline.features._label_profile import LabelProfile, PredictionProfile
from loopline.features._preprocessor import Preprocessor, build_preprocessor
from loopline.features._profile import (
    QUANTILE_LEVELS,
    BooleanProfile,
    CategoricalProfile,
    FeatureProfile,
    NumericProfile,
    Profile,
    TextProfile,
    TimestampProfile,
)

__all__ = [
    "QUANTILE_LEVELS",
    "BooleanProfile",
    "CategoricalProfile",
    "FeatureProfile",
    "LabelProfile",
    "Matrix",
    "NumericProfile",
    "PredictionProfile",
    "Preprocessor",
    "Profile",
    "TextProfile",
    "TimestampProfile",
    "build_preprocessor",
]
