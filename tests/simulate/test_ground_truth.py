"""The simulated clicks follow the stated ground truth: base CTR, position bias, calibration, delays.

Tolerances are four binomial (or sampling) standard deviations, on fixed seeds.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

from tests.simulate.conftest import Frames

Z = 4.0


def _click_sd(p: pd.Series) -> float:
    """Standard deviation of the number of clicks among independent impressions with probabilities ``p``."""
    return float(np.sqrt((p * (1 - p)).sum()))


def test_day_zero_ctr_is_the_configured_base_ctr(small: Frames) -> None:
    day0 = small.impressions().query("day == 0")
    assert abs(day0["true_p"].mean() - small.config.base_ctr) < 1e-4  # the intercept is solved for it
    clicks = day0["clicked"].sum()
    assert abs(clicks - small.config.base_ctr * len(day0)) < Z * _click_sd(day0["true_p"])


def test_ctr_falls_with_position_as_the_examination_curve_says(small: Frames) -> None:
    imp = small.impressions()
    by_position = imp.groupby("position").agg(ctr=("clicked", "mean"), clicks=("clicked", "sum"),
                                               engage=("p_engage", "sum"), expected=("true_p", "mean"),
                                               n=("clicked", "size"))
    # The expected CTR falls strictly with position; the observed one does too, up to sampling noise
    # between neighbours, and the bottom of the feed is clicked far less than the top.
    assert (np.diff(by_position["expected"].to_numpy()) < 0).all()
    ctr, n = by_position["ctr"].to_numpy(), by_position["n"].to_numpy()
    sd_step = np.sqrt(ctr[:-1] * (1 - ctr[:-1]) / n[:-1] + ctr[1:] * (1 - ctr[1:]) / n[1:])
    assert (np.diff(ctr) < Z * sd_step).all()
    assert ctr[-1] < 0.25 * ctr[0]
    # Controlling for what is shown where: clicks / sum(p_engage) estimates the examination probability.
    exam = 1.0 / (1.0 + by_position.index.to_numpy()) ** small.config.position_bias
    for k, row in by_position.iterrows():
        p = imp.loc[imp["position"] == k, "true_p"]
        expected = exam[int(k)] * row["engage"]  # type: ignore[call-overload]
        assert abs(row["clicks"] - expected) < Z * _click_sd(p), f"position {k}"
    ratio = (by_position["clicks"] / by_position["engage"]).to_numpy()
    assert stats.spearmanr(ratio, exam).statistic > 0.9


def test_clicks_are_calibrated_to_true_p_in_every_decile(small: Frames) -> None:
    imp = small.impressions()
    imp["decile"] = pd.qcut(imp["true_p"], 10, labels=False)
    for decile, group in imp.groupby("decile"):
        expected = group["true_p"].sum()
        assert abs(group["clicked"].sum() - expected) < Z * _click_sd(group["true_p"]), f"decile {decile}"
    # And true_p carries the signal: the top decile clicks far more than the bottom one.
    rates = imp.groupby("decile")["clicked"].mean()
    assert rates.iloc[-1] > 10 * rates.iloc[0]


def test_click_delays_have_the_configured_median_and_late_share(small: Frames) -> None:
    imp = small.impressions()
    delay_s = (imp.loc[imp["clicked"], "click_ts"] - imp.loc[imp["clicked"], "ts"]).dt.total_seconds().to_numpy()
    n, config = len(delay_s), small.config
    assert n > 3000
    # The sample median of a lognormal: its log has sd ~ 1.2533 * sigma / sqrt(n).
    log_median_sd = 1.2533 * config.click_delay_sigma / np.sqrt(n)
    assert abs(np.log(np.median(delay_s)) - np.log(config.click_delay_median_s)) < Z * log_median_sd
    late = np.mean(delay_s > 1800)
    share = config.late_click_share
    assert abs(late - share) < Z * np.sqrt(share * (1 - share) / n)
    # The whole distribution, not only two points: a Kolmogorov-Smirnov test against the lognormal.
    ks = stats.kstest(np.log(delay_s), "norm", args=(np.log(config.click_delay_median_s), config.click_delay_sigma))
    assert ks.pvalue > 1e-3
