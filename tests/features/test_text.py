"""Text: hashed TF-IDF equal to scikit-learn's, and good enough to filter spam."""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.feature_extraction.text import HashingVectorizer, TfidfTransformer
from sklearn.linear_model import LogisticRegression

from loopline.data._types import Column, Kind, Schema
from loopline.features import build_preprocessor
from loopline.features._text import TextEncoder
from loopline.spec import FeaturesSpec

SPAM = ["win a free prize now", "free money click now", "cheap pills free offer", "you win cash prize",
        "claim your free gift card", "urgent offer win money", "free entry win big", "cash bonus click here"]
HAM = ["meeting moved to monday", "lunch with the team today", "please review the quarterly report",
       "notes from the project call", "can we talk about the budget", "the report is attached",
       "team lunch on friday", "call me after the meeting"]


def test_matches_hashing_vectorizer_then_tfidf_transformer() -> None:
    train = pd.Series([*SPAM, *HAM], dtype="str")
    test = pd.Series(["free lunch meeting", "brand new words", None], dtype="str")
    enc = TextEncoder("body", mode="linear", n_features=256)
    enc.fit(train, None)
    hashing = HashingVectorizer(n_features=256, alternate_sign=False, norm=None)
    tfidf = TfidfTransformer().fit(hashing.transform(train))
    expected = tfidf.transform(hashing.transform(test.fillna(""))).toarray()
    np.testing.assert_allclose(enc.transform(test).toarray(), expected, rtol=1e-12, atol=1e-15)
    assert len(enc.df_index) == np.count_nonzero(np.bincount(hashing.transform(train).indices, minlength=256))


def test_spam_filter_separates_the_classes() -> None:
    noise = np.random.default_rng(0).normal(size=16)
    frame = pd.DataFrame({"body": pd.Series([*SPAM, *HAM], dtype="str"), "noise": noise})
    y = np.array([1] * len(SPAM) + [0] * len(HAM))
    schema = Schema((Column("body", Kind.TEXT, "str", 16, 0.0), Column("noise", Kind.NUMERIC, "float64", 16, 0.0)))
    pre = build_preprocessor(schema, ["body", "noise"], spec=FeaturesSpec(), task="binary", for_model="linear")
    X = pre.fit_transform(frame, y)
    assert X.format == "csr" and X.shape == (16, 1 + 2**14)
    assert pre.source_columns_[0] == "noise" and pre.feature_names_out_[1] == "body__tfidf0"
    model = LogisticRegression(C=10.0).fit(X, y)
    assert (model.predict(X) == y).all()
    new = pd.DataFrame({"body": ["free cash prize offer", "budget meeting notes"], "noise": [0.0, 0.0]})
    assert model.predict(pre.transform(new)).tolist() == [1, 0]
