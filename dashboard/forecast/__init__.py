"""Accrual forecasts: the single-rate model (single.py), its one-rate multi-centre refinement (pooled.py: the
status's model under `forecast_model: single`, the default for a trial with one site), the per-site
multi-centre model of Jiang et al. 2015 with centres needed (multi.py: the status's model under `forecast_model:
multicentre`, the default for a trial with more than one site), and the distributions they share, on arrays
(distributions.py). Each module documents its closed forms.
Pure Python (no Streamlit) so the pages and the command line share it."""

from dashboard.forecast.distributions import (
    PROBS,
    Prediction,
    negbin_quantiles,
    negbin_reaching,
    predict_enrolled,
    probability_reaching,
    time_cdf,
    time_quantiles,
)
from dashboard.forecast.multi import Outlook, Site, centres_needed, forecast_sites, median_site_rate, site_fan
from dashboard.forecast.pooled import (
    SitePlan,
    exposure_ahead,
    exposure_days,
    forecast_fan,
    forecast_multicentre,
    forecast_recent,
    open_share,
    recent_posterior,
)
from dashboard.forecast.single import (
    Forecast,
    _draw_remaining,
    day_after,
    forecast_completion,
    predict_enrolled_by_end,
    simulate_completion,
    status_from_probability,
)

__all__ = [
    "PROBS", "Forecast", "Outlook", "Prediction", "Site", "SitePlan", "_draw_remaining", "centres_needed", "day_after",
    "exposure_ahead", "exposure_days", "forecast_completion", "forecast_fan", "forecast_multicentre", "forecast_recent",
    "forecast_sites", "median_site_rate", "negbin_quantiles", "negbin_reaching", "open_share", "predict_enrolled",
    "predict_enrolled_by_end", "probability_reaching", "recent_posterior", "simulate_completion", "site_fan",
    "status_from_probability", "time_cdf", "time_quantiles",
]
