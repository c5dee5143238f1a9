"""The multi-centre model of Jiang, Simon, Mayo & Gajewski (2015; R: accrual::accrual.multi.n): a rate per site.

Site j with planned share s_j has its own rate lambda_j ~ Gamma(n*P*s_j, T*P) a priori (the plan's rate
n/T split by shares, weighed like P times the planned trial). After m_j enrolments in the dT_j days since
its own activation, lambda_j ~ Gamma(n*P*s_j + m_j, T*P + dT_j), and its enrolments in the next H_j days
it is open are negative binomial:

    X_j ~ NegBin(size = n*P*s_j + m_j, p = (T*P + dT_j) / (T*P + dT_j + H_j))

(the package's (TP + dT_j)/(TP + dTpred_j), dTpred_j = dT_j + H_j counted from the site's activation).
A planned site (activation ahead, u_j days from now) has dT_j = 0, m_j = 0 and H_j = horizon - u_j: its
prior alone. A closed site has H_j = 0 after its closing: nothing more. The trial's number by a horizon is
m + sum_j X_j: sites sharing one p add exactly (NegBin(sum of sizes, p)), the others by convolution of
their pmfs (total_pmf, exact to TAIL). Worked example (the package's): n =
300, T = 36 months, P = 0.5, ten equal sites open since month 0 with 108 enrolled after 10 months: each
X_j ~ NegBin(15 + m_j, 28/54), the total by month 36 is 108 + NegBin(258, 28/54), mean 108 + 258*26/28 =
347.57.

The completion date of the trial (count n): the smallest whole day t with P(m + X(t) >= n) >= q, found by
bisection (the probability grows with t); the fan (site_fan) does the same for counts below n, the prior
staying the target's. Of one site (its own target s_j*n): the time to k more at one
Gamma-Poisson rate is b*B/(1 - B), B ~ Beta(k, a), exactly as the single-rate model, after its opening.

Centres needed: the fewest extra sites, each opening in u days and recruiting at the trial's median site
rate r (enrolled/days open over the sites that have opened; the plan's n*s/T when none has) as a Poisson
process, such that P(m + X + Poisson(k*r*(H - u)) >= n) >= the chance asked for (default 0.8).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np

from dashboard.forecast.distributions import PROBS, TAIL, negbin_quantiles, negbin_reaching, stats, time_quantiles

MOST_CENTRES = 200  # beyond this many extra centres the answer is "none is enough"
LONGEST_DAYS = 100 * 366  # a completion date later than this is "never" (None)
LENGTH_GROUPS = 4  # by_end_at_once: problems in this many groups of like length


@dataclass(frozen=True)
class Site:
    """One site in days relative to now. days_open >= 0: open that many days (since its activation);
    < 0: planned, opening in -days_open days. closes_in_days <= 0: closed (days_open counts up to its
    closing); math.inf: stays open. share: its planned fraction of the trial's accrual."""

    days_open: float
    enrolled: int = 0
    share: float = 1.0
    closes_in_days: float = math.inf
    name: str = ""
    # An extra site of a what-if: it recruits at this many a day (a Poisson process, no prior), as centres
    # needed assumes; its share and enrolled are unused.
    known_rate: float | None = None
    # Its rate's Gamma(size, rate per day) learnt elsewhere (the recent pace: from its last months only)
    # instead of from the prior and its enrolments since activation.
    posterior: tuple[float, float] | None = None

    @property
    def planned(self) -> bool:
        return self.days_open < 0


def _check(target: int, enrolled: int, planned_days: float, certainty: float, sites: list[Site]) -> None:
    if not (target > 0 and planned_days > 0 and 0 < certainty <= 1):
        raise ValueError("target and planned days must be > 0 and certainty in (0, 1]")
    if not sites:
        raise ValueError("sites: give at least one site")
    for s in sites:
        if s.known_rate is not None and not (s.known_rate >= 0 and s.days_open <= 0):
            raise ValueError(f"site {s.name or '?'}: a known rate >= 0 is for a site opening now or later")
        if not (s.share > 0 and s.enrolled >= 0 and math.isfinite(s.days_open)) or (s.planned and s.enrolled):
            raise ValueError(f"site {s.name or '?'}: share must be > 0, enrolled >= 0 (0 for a planned site), days open a number")
    if enrolled < sum(s.enrolled for s in sites):
        raise ValueError("enrolled is less than the sites' enrolments")


def site_parameters(target: int, planned_days: float, certainty: float, sites: list[Site], horizon: float) -> tuple[np.ndarray, ...]:
    """(size, rate, ahead) per site: its posterior Gamma(size, rate) and the days H_j it recruits from now
    to `horizon` days ahead (0 once closed); its accrual then is NegBin(size, rate/(rate + ahead))."""
    share = np.array([s.share for s in sites], dtype=float)
    days_open = np.array([s.days_open for s in sites], dtype=float)
    closes = np.array([s.closes_in_days for s in sites], dtype=float)
    m = np.array([s.enrolled for s in sites], dtype=float)
    known = np.array([s.known_rate is not None for s in sites], dtype=bool)
    size = np.where(known, 0.0, target * certainty * share + m)  # size 0: no negative binomial part
    rate = planned_days * certainty + np.maximum(days_open, 0.0)
    learnt = [j for j, s in enumerate(sites) if s.posterior is not None]
    if learnt:
        size[learnt], rate[learnt] = np.array([sites[j].posterior for j in learnt], dtype=float).T
    start = np.maximum(-days_open, 0.0)
    ahead = np.maximum(np.minimum(horizon, closes) - start, 0.0)
    return size, rate, ahead


def poisson_mean(sites: list[Site], horizon: float) -> float:
    """The expected enrolments of the known-rate sites from now to `horizon` days ahead."""
    return sum(s.known_rate * max(min(horizon, s.closes_in_days) - max(-s.days_open, 0.0), 0.0)
               for s in sites if s.known_rate is not None)


def poisson_pmf(mean: float, last: int | None = None) -> np.ndarray:
    """Poisson(mean) pmf from 0 to `last` (default: where less than TAIL is left), in logs."""
    if mean <= 0:
        return np.ones(1)
    if last is None:
        last = int(mean + 12 * math.sqrt(mean) + 30)
    k = np.arange(1, last + 1, dtype=float)
    return np.exp(-mean + np.concatenate(([0.0], np.cumsum(np.log(mean / k)))))


def negbin_pmf(size: float, p: float, last: int | None = None) -> np.ndarray:
    """NegBin(size, p) pmf from 0 to `last` (default: where less than TAIL is left beyond), by the
    recurrence pmf(k)/pmf(k-1) = (k - 1 + size)/k * (1 - p) in logs: numpy only, no scipy call per site."""
    if size <= 0 or p >= 1:
        return np.ones(1)
    if last is None:
        mean, sd = size * (1 - p) / p, math.sqrt(size * (1 - p)) / p
        last = int(mean + (-2 * math.log(TAIL)) ** 0.5 * sd * 1.5 + 30)
    k = np.arange(1, last + 1, dtype=float)
    logs = size * math.log(p) + np.concatenate(([0.0], np.cumsum(np.log((k - 1 + size) / k) + math.log1p(-p))))
    return np.exp(logs)


def total_pmf(size: np.ndarray, rate: np.ndarray, ahead: np.ndarray, last: int | None = None, poisson: float = 0.0) -> np.ndarray:
    """The pmf of sum_j NegBin(size_j, rate_j/(rate_j + ahead_j)) + Poisson(poisson): sites with one
    probability merged exactly (their sizes add), the others convolved; cut at `last` when given (the
    counts below it exact)."""
    merged: dict[float, float] = {}
    for a, b, h in zip(size, rate, ahead, strict=True):
        if h > 0 and a > 0:
            p = float(b / (b + h))
            merged[p] = merged.get(p, 0.0) + float(a)
    pmf = poisson_pmf(poisson, last)
    for p, a in merged.items():
        pmf = np.convolve(pmf, negbin_pmf(a, p, last))
        if last is not None:
            pmf = pmf[: last + 1]
    return pmf


def quantiles_of(pmf: np.ndarray, probs=PROBS) -> list[int]:
    """The smallest counts whose cdf reaches each prob (as scipy's ppf)."""
    cdf = np.cumsum(pmf)
    return [int(min(np.searchsorted(cdf, q * (1 - 1e-12)), len(pmf) - 1)) for q in probs]


def chance_at_least(pmf: np.ndarray, count: int) -> float:
    """P(total >= count) of a pmf that is exact below `count`."""
    return 1.0 if count <= 0 else float(min(1.0, max(0.0, 1.0 - pmf[:count].sum())))


@dataclass(frozen=True)
class Outlook:
    """The multi-centre forecast of a trial: the number enrolled by the planned end (median, 90%), the
    chance of the target by then, and the completion date in days from now (None: not within a century)."""

    enrolled_by_end_median: int
    enrolled_by_end_p05: int
    enrolled_by_end_p95: int
    p_on_time: float
    median_days: float | None
    p05_days: float | None
    p95_days: float | None
    sites: list[dict]

    def as_dict(self) -> dict:
        return {k: getattr(self, k) for k in self.__dataclass_fields__}


def chance_by(
    target: int, enrolled: int, planned_days: float, certainty: float, sites: list[Site], days: float, count: int | None = None
) -> float:
    """P(the target (or `count`, the prior staying the target's) is reached within `days` from now)."""
    need = (target if count is None else count) - enrolled
    if need <= 0:
        return 1.0
    size, rate, ahead = site_parameters(target, planned_days, certainty, sites, days)
    return chance_at_least(total_pmf(size, rate, ahead, last=need, poisson=poisson_mean(sites, days)), need)


def completion_days(
    target: int, enrolled: int, planned_days: float, certainty: float, sites: list[Site], q: float, count: int | None = None
) -> float | None:
    """The smallest whole day t from now with P(target reached by t) >= q (or `count` reached: the fan's
    points); None beyond LONGEST_DAYS."""
    if enrolled >= (target if count is None else count):
        return 0.0
    low, high = 0, LONGEST_DAYS
    if chance_by(target, enrolled, planned_days, certainty, sites, high, count) < q:
        return None
    while high - low > 1:
        middle = (low + high) // 2
        if chance_by(target, enrolled, planned_days, certainty, sites, middle, count) >= q:
            high = middle
        else:
            low = middle
    return float(high)


def site_outlook(target: int, planned_days: float, certainty: float, sites: list[Site], left: float) -> list[dict]:
    """Per site: enrolled by the planned end (median, 90%), the chance of its own target (share x target)
    by then, and the median days to it (after its opening; None when closed or never)."""
    size, rate, ahead = site_parameters(target, planned_days, certainty, sites, left)
    m = np.array([s.enrolled for s in sites], dtype=float)
    own = np.array([math.ceil(s.share * target - 1e-9) for s in sites], dtype=float)
    known = np.array([s.known_rate is not None for s in sites])
    mean = np.array([poisson_mean([s], left) if s.known_rate is not None else 0.0 for s in sites])
    # A known-rate site is the limit of a negative binomial with a certain rate: Poisson(mean).
    by_end = np.where(known[:, None], stats().poisson.ppf(PROBS, mean[:, None]), negbin_quantiles(m, size, rate, ahead))
    chance = np.where(known, stats().poisson.sf(own - 1, mean), negbin_reaching(m, own, size, rate, ahead))
    start = np.array([max(-s.days_open, 0.0) for s in sites])
    k = np.maximum(own - m, 1)
    with np.errstate(divide="ignore", invalid="ignore"):
        median = np.where(known, np.nan, time_quantiles(size, rate, k, (0.5,))[:, 0] + start)
    rows = []
    for j, s in enumerate(sites):
        never = s.closes_in_days < math.inf and (m[j] < own[j])
        rows.append({
            "site": s.name,
            "planned": s.planned or s.known_rate is not None,
            "enrolled_by_end_median": int(by_end[j, 1]),
            "enrolled_by_end_p05": int(by_end[j, 0]),
            "enrolled_by_end_p95": int(by_end[j, 2]),
            "p_target_by_end": round(float(chance[j]), 4),
            "target_median_days": 0.0 if m[j] >= own[j] else None if never or not math.isfinite(median[j]) else float(median[j]),
        })
    return rows


def forecast_sites(
    target: int, enrolled: int, elapsed_days: float, planned_days: float, sites: list[Site], certainty: float = 0.5,
    dates: bool = True, per_site: bool = True,
) -> Outlook:
    """Jiang et al.'s forecast for the trial (enrolled: every enrolment, those of unlisted sites too);
    without `dates` no completion date (a bisection: the page's, not the programme summary's), without
    `per_site` no rows per site."""
    _check(target, enrolled, planned_days, certainty, sites)
    left = max(planned_days - elapsed_days, 0.0)
    size, rate, ahead = site_parameters(target, planned_days, certainty, sites, left)
    pmf = total_pmf(size, rate, ahead, poisson=poisson_mean(sites, left))
    p05, median, p95 = (enrolled + q for q in quantiles_of(pmf))
    p_on_time = chance_at_least(pmf, target - enrolled)  # the pmf is whole but for less than TAIL beyond its end
    days = [completion_days(target, enrolled, planned_days, certainty, sites, q) for q in PROBS] if dates else [None] * 3
    rows = site_outlook(target, planned_days, certainty, sites, left) if per_site else []
    return Outlook(median, p05, p95, p_on_time, days[1], days[0], days[2], rows)


def site_fan(
    target: int, enrolled: int, planned_days: float, certainty: float, sites: list[Site], points: int = 20
) -> list[tuple[int, float | None, float | None, float | None]]:
    """The fan of the per-site model: for up to `points` counts from just above `enrolled` to the target (the
    target last, its row the forecast's completion days), (count, p05, median, p95) days from now until that
    count is reached (None: not within LONGEST_DAYS)."""
    k = max(target - enrolled, 0)
    if k == 0:
        return [(int(target), 0.0, 0.0, 0.0)]
    counts = enrolled + np.unique(np.linspace(1, k, max(1, min(points, k))).round().astype(int))
    if any(s.known_rate is not None for s in sites):  # a what-if's extra sites: one count at a time
        return [(int(c), *(completion_days(target, enrolled, planned_days, certainty, sites, q, int(c)) for q in PROBS)) for c in counts]
    # On arrays: the trial's problem once per count (the prior the target's, the count the one to reach).
    one = batch_of([problem(target, enrolled, planned_days, planned_days, sites, certainty)])
    days = _days(replace(_rows_of(one, np.zeros(len(counts), dtype=int)), target=counts))
    return [(int(c), *(None if math.isnan(d) else float(d) for d in days[:, i])) for i, c in enumerate(counts)]


def median_site_rate(target: int, planned_days: float, sites: list[Site]) -> float:
    """Enrolments per day of the median site among those that have opened (enrolled / days open); the
    plan's rate of an average site (target x mean share / planned days) when none has."""
    rates = [s.enrolled / s.days_open for s in sites if s.days_open > 0]
    if rates:
        return float(np.median(rates))
    return target * float(np.mean([s.share for s in sites])) / planned_days


def centres_needed(
    target: int, enrolled: int, elapsed_days: float, planned_days: float, sites: list[Site], opens_in_days: float,
    certainty: float = 0.5, chance: float = 0.8,
) -> int | None:
    """The fewest extra sites opening in `opens_in_days` at the median site rate (a Poisson process each)
    that give `chance` of the target by the planned end; 0 when the sites there are suffice; None when no
    number up to MOST_CENTRES does (the planned end comes before they open, or too soon after)."""
    _check(target, enrolled, planned_days, certainty, sites)
    left = max(planned_days - elapsed_days, 0.0)
    extra = extra_site(median_site_rate(target, planned_days, sites), opens_in_days)
    for k in range(MOST_CENTRES + 1):
        if chance_by(target, enrolled, planned_days, certainty, [*sites, *[extra] * k], left) >= chance:
            return k
        if poisson_mean([extra], left) <= 0:
            return None
    return None


def extra_site(rate_per_day: float, opens_in_days: float, name: str = "extra") -> Site:
    """An extra site of a what-if: opening in `opens_in_days` (now when <= 0), recruiting at a known rate."""
    return Site(-opens_in_days if opens_in_days > 0 else 0.0, 0, 1.0, name=name, known_rate=rate_per_day)


def enrolled_path(target: int, enrolled: int, planned_days: float, certainty: float, sites: list[Site], horizons) -> np.ndarray:
    """m + the 5%, 50% and 95% quantiles of the number enrolled by each horizon (days from now): rows."""
    rows = []
    for h in horizons:
        size, rate, ahead = site_parameters(target, planned_days, certainty, sites, h)
        rows.append([enrolled + q for q in quantiles_of(total_pmf(size, rate, ahead, poisson=poisson_mean(sites, h)))])
    return np.array(rows, dtype=float).reshape(-1, 3)


# ---- many trials at once: the programme summary's per-site forecasts on arrays ---------------------------

CHUNK = 2_000_000  # array elements per block of problems: memory stays bounded at national scale


@dataclass(frozen=True)
class Problem:
    """One trial's per-site forecast to make: the target (n) and enrolled (m), the horizon of the planned end
    (days from now) and per site (rows) its posterior Gamma(size, rate), its start and closing (days from now)."""

    target: int
    enrolled: int
    left: float
    size: np.ndarray
    rate: np.ndarray
    start: np.ndarray
    closes: np.ndarray


def problem(target: int, enrolled: int, elapsed_days: float, planned_days: float, sites: list[Site], certainty: float) -> Problem:
    """forecast_sites's problem on arrays (no known-rate site: those are the what-if's)."""
    _check(target, enrolled, planned_days, certainty, sites)
    if any(s.known_rate is not None for s in sites):
        raise ValueError("a known-rate site is for one forecast at a time (forecast_sites)")
    size, rate, _ = site_parameters(target, planned_days, certainty, sites, 0.0)
    start = np.array([max(-s.days_open, 0.0) for s in sites])
    closes = np.array([s.closes_in_days for s in sites], dtype=float)
    return Problem(int(target), int(enrolled), max(planned_days - elapsed_days, 0.0), size, rate, start, closes)


@dataclass(frozen=True)
class Batch:
    """Problems side by side: per problem (rows) and site (columns, padded by sites that add nothing) the
    posterior size and rate, start and closing; per problem m, n and the days left to the planned end."""

    size: np.ndarray
    rate: np.ndarray
    start: np.ndarray
    closes: np.ndarray
    enrolled: np.ndarray
    target: np.ndarray
    left: np.ndarray
    ratios: np.ndarray | None = None  # log_ratios of every site up to the largest count needed, when small enough

    def at(self, rows: np.ndarray, horizons: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(size, p) of the rows' sites at their horizons (days from now): NegBin(size, p) ahead, p 1 for none."""
        size, rate = self.size[rows], self.rate[rows]
        ahead = np.maximum(np.minimum(horizons[:, None], self.closes[rows]) - self.start[rows], 0.0)
        recruits = (ahead > 0) & (size > 0)
        p = np.where(recruits, rate / (rate + np.where(recruits, ahead, 1.0)), 1.0)
        return np.where(recruits, size, 0.0), p


def batch_of(problems: list[Problem]) -> Batch:
    width = max(len(p.size) for p in problems)

    def pad(name: str, fill: float) -> np.ndarray:
        out = np.full((len(problems), width), fill)
        for i, p in enumerate(problems):
            out[i, : len(p.size)] = getattr(p, name)
        return out

    size = pad("size", 0.0)
    enrolled, target = np.array([p.enrolled for p in problems]), np.array([p.target for p in problems])
    length = max(int((target - enrolled).max()), 1)
    ratios = log_ratios(size, length) if size.size * length <= CHUNK else None
    return Batch(size, pad("rate", 1.0), pad("start", 0.0), pad("closes", 0.0), enrolled, target,
                 np.array([p.left for p in problems], dtype=float), ratios)


def log_ratios(size: np.ndarray, length: int) -> np.ndarray:
    """sum over i <= k of log((i - 1 + size)/i), for k = 0 .. length - 1 (0 at k = 0): the part of the negative
    binomial's log pmf that does not depend on p, so a bisection over horizons computes it once."""
    k = np.arange(1, length, dtype=float)
    a = np.where(size > 0, size, 1.0)[..., None]
    return np.concatenate([np.zeros(a.shape), np.cumsum(np.log((k - 1 + a) / k), axis=-1)], axis=-1)


def _pmfs(size: np.ndarray, p: np.ndarray, length: int, ratios: np.ndarray | None = None) -> np.ndarray:
    """NegBin(size, p) pmfs from 0 to length - 1 for arrays of sites (..., length): log pmf(k) = size*log p +
    sum_{i<=k} log((i - 1 + size)/i) + k*log(1 - p), as negbin_pmf's recurrence; `ratios`: log_ratios of the
    sizes, computed before. A site that adds nothing (size 0 or p 1) is 1 at 0."""
    live = (size > 0) & (p < 1)
    a, q = np.where(live, size, 1.0)[..., None], np.where(live, p, 0.5)[..., None]
    ratios = log_ratios(size, length) if ratios is None else ratios[..., :length]
    logs = a * np.log(q) + ratios  # a new array: the in-place steps below leave `ratios` as it was
    logs += np.arange(length, dtype=float) * np.log1p(-q)
    logs[~live] = -np.inf  # a site that adds nothing (not open by the horizon): 1 at 0
    logs[~live, 0] = 0.0
    return np.exp(logs, out=logs)  # in place: the arrays are the summary's largest


def _convolve(a: np.ndarray, b: np.ndarray, length: int) -> np.ndarray:
    """Row by row, the convolutions of a and b cut at `length` (by FFT; no term below the cut left out)."""
    n = 1 << int(np.ceil(np.log2(2 * length)))
    out = np.fft.irfft(np.fft.rfft(a, n) * np.fft.rfft(b, n), n)[..., :length]
    return np.maximum(out, 0.0)  # the FFT's rounding leaves -1e-17 where the pmf is 0


def _below(size: np.ndarray, p: np.ndarray, need: np.ndarray, ratios: np.ndarray | None = None) -> np.ndarray:
    """P(sum over sites of NegBin(size_j, p_j) < need) per row: the other sites' pmfs convolved, cut at need,
    against the last site's cdf (need >= 1)."""
    length = int(need.max())
    pmfs = _pmfs(size, p, length, ratios)
    total = pmfs[:, 0] if size.shape[1] > 1 else np.broadcast_to(_pmfs(np.zeros(1), np.ones(1), length)[0], (len(need), length))
    for j in range(1, size.shape[1] - 1):
        total = _convolve(total, pmfs[:, j], length)
    cdf = np.cumsum(pmfs[:, -1], axis=-1)
    k = np.arange(length)
    index = need[:, None] - 1 - k
    inside = index >= 0
    return (total * np.where(inside, np.take_along_axis(cdf, np.where(inside, index, 0), axis=-1), 0.0)).sum(axis=-1)


def _blocks(rows: np.ndarray, cost: np.ndarray) -> list[np.ndarray]:
    """The rows in blocks of about CHUNK array elements (their cost each; a block ends past CHUNK by one row)."""
    if not len(rows):
        return []
    block = (np.cumsum(cost) - cost) // CHUNK
    return np.split(rows, np.flatnonzero(np.diff(block)) + 1)


def chances_at_once(batch: Batch, rows: np.ndarray, horizons: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """P(m + X(horizon) >= count) for the batch's rows (chance_by on arrays): 1 where m >= count."""
    need = counts.astype(int) - batch.enrolled[rows]
    out = np.ones(len(rows))
    todo = np.flatnonzero(need > 0)
    for block in _blocks(todo, need[todo] * batch.size.shape[1]):
        size, p = batch.at(rows[block], horizons[block])
        out[block] = 1.0 - _below(size, p, need[block], None if batch.ratios is None else batch.ratios[rows[block]])
    return np.clip(out, 0.0, 1.0)


def days_at_once(batch: Batch, q: np.ndarray) -> np.ndarray:
    """completion_days on arrays: per problem (row) the smallest whole day with P(target by then) >= q (one q per
    row: rows repeated for several), by one bisection in step for all; NaN when not within LONGEST_DAYS."""
    rows = np.arange(len(q)) % len(batch.target)
    counts = batch.target[rows]
    done = counts <= batch.enrolled[rows]
    low, high = _bracket(batch, rows, counts, q, done)
    never = np.isnan(high)
    live = ~done & ~never
    while (step := np.flatnonzero(live & (high - low > 1))).size:
        middle = (low[step] + high[step]) // 2
        reached = chances_at_once(batch, rows[step], middle, counts[step]) >= q[step]
        high[step] = np.where(reached, middle, high[step])
        low[step] = np.where(reached, low[step], middle)
    return np.where(done, 0.0, np.where(never, np.nan, high))


def _bracket(batch: Batch, rows: np.ndarray, counts: np.ndarray, q: np.ndarray, done: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per row whole days low < high with P(count by low) < q <= P(count by high), to bisect between: first the
    two days around the one-rate approximation of the answer (it is within a day of the answer when the sites
    recruit alike: then no bisection is left), widened outwards by doubling steps where the answer lies beyond;
    high NaN when not even LONGEST_DAYS is enough. The answer is the bisection's from [0, LONGEST_DAYS], sooner
    (the chance grows with the horizon)."""
    now = (batch.start[rows] <= 0) & (batch.closes[rows] > 0) & (batch.size[rows] > 0)
    pace = np.where(now, batch.size[rows] / batch.rate[rows], 0.0).sum(axis=1)
    shape = np.where(now, batch.size[rows], 0.0).sum(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        # The q-quantile of the days to the count if the open sites were one Gamma-Poisson rate of their mean
        # pace (exact when they share one probability).
        need = np.maximum(counts - batch.enrolled[rows], 1)
        near = np.where(pace > 0, shape / pace * stats().beta.ppf(q, need, shape) / stats().beta.ppf(1 - q, shape, need), np.nan)
        guess = np.where(pace > 0, (counts - batch.enrolled[rows]) / pace, LONGEST_DAYS / 2)
    first = np.clip(np.ceil(np.where(np.isfinite(near) & (near > 0), near, guess)), 1, LONGEST_DAYS)
    low, high = first - 1, first
    todo = np.flatnonzero(~done)
    both = np.concatenate([todo, todo])
    chance = chances_at_once(batch, rows[both], np.concatenate([low[todo], high[todo]]), counts[both])
    early, late = todo[chance[: len(todo)] >= q[todo]], todo[chance[len(todo):] < q[todo]]
    high[early] = low[early]
    low[late] = high[late]
    step = 2.0
    while early.size or late.size:  # each row's other end moved out by 2, 4, 8, ... days until it holds
        low[early] = np.maximum(high[early] - step, 0.0)
        high[late] = np.minimum(low[late] + step, LONGEST_DAYS)
        early = early[low[early] > 0]  # P(count by day 0) = 0 < q
        moved = np.concatenate([early, late])
        reached = chances_at_once(batch, rows[moved], np.concatenate([low[early], high[late]]), counts[moved]) >= q[moved]
        still_early, still_late = early[reached[: len(early)]], late[~reached[len(early):]]
        high[still_early] = low[still_early]
        never = still_late[high[still_late] >= LONGEST_DAYS]
        high[never] = np.nan
        still_late = still_late[high[still_late] < LONGEST_DAYS]
        low[still_late] = high[still_late]
        early, late, step = still_early, still_late, 2 * step
    return low, high


def _by_end_length(batch: Batch) -> np.ndarray:
    """Per problem, a count past the 95% quantile of the number by the planned end: by Cantelli's inequality
    P(X >= mean + t sd) <= 1/(1 + t^2), so with t = sqrt(19) at most 5% lies at or beyond mean + t sd, whatever
    the sites' distributions (the pmfs need not reach further: their cdf below is exact)."""
    ahead = np.maximum(np.minimum(batch.left[:, None], batch.closes) - batch.start, 0.0)
    live = (ahead > 0) & (batch.size > 0)
    mean = np.where(live, batch.size * ahead / batch.rate, 0.0).sum(axis=1)
    variance = np.where(live, batch.size * ahead * (batch.rate + ahead) / batch.rate**2, 0.0).sum(axis=1)
    return np.ceil(mean + math.sqrt(1 / (1 - PROBS[-1]) - 1) * np.sqrt(variance)).astype(int) + 2


def by_end_at_once(batch: Batch) -> np.ndarray:
    """m + the 5%, 50% and 95% quantiles of the number enrolled by the planned end, per problem (rows), as
    quantiles_of gives them from the total pmf. The problems in blocks of like length (sorted by it), so that a
    short one is not computed to a long one's length."""
    out = np.zeros((len(batch.target), len(PROBS)))
    lengths = _by_end_length(batch)
    groups = np.array_split(np.argsort(lengths, kind="stable"), min(LENGTH_GROUPS, len(lengths)))
    for block in (b for group in groups for b in _blocks(group, lengths[group] * batch.size.shape[1])):
        last = int(lengths[block].max())
        size, p = batch.at(block, batch.left[block])
        pmfs = _pmfs(size, p, last)
        total = pmfs[:, 0]
        for j in range(1, size.shape[1]):
            total = _convolve(total, pmfs[:, j], last)
        cdf = np.cumsum(total, axis=-1)
        for c, prob in enumerate(PROBS):
            out[block, c] = np.argmax(cdf >= prob * (1 - 1e-12), axis=-1)
    return out + batch.enrolled[:, None]


def _one_probability(batch: Batch) -> np.ndarray:
    """Per problem: its recruiting sites (size > 0) all open now, never closing, with one posterior rate: their
    probabilities are one at every horizon, so their sum is NegBin(sum of sizes, p), one Gamma-Poisson rate."""
    live = batch.size > 0
    rate = np.where(live, batch.rate, np.nan)
    same = np.nanmax(rate, axis=1, initial=-np.inf) == np.nanmin(rate, axis=1, initial=np.inf)
    always = np.where(live, (batch.start <= 0) & np.isinf(batch.closes), True).all(axis=1)
    return live.any(axis=1) & same & always


def _closed_form_days(batch: Batch, rows: np.ndarray) -> np.ndarray:
    """completion_days where the sites share one probability: the time to k more at a Gamma(a, b) rate is
    b*B/(1 - B), B ~ Beta(k, a) (distributions.time_quantiles); the first whole day at or after each quantile
    (at least 1; 0 when reached; NaN beyond LONGEST_DAYS). Rows: PROBS; columns: the problems chosen."""
    a = np.where(batch.size[rows] > 0, batch.size[rows], 0.0).sum(axis=1)
    b = np.where(batch.size[rows] > 0, batch.rate[rows], -np.inf).max(axis=1)
    k = batch.target[rows] - batch.enrolled[rows]
    with np.errstate(invalid="ignore"):
        exact = time_quantiles(a, b, np.maximum(k, 1)).T
    days = np.maximum(np.ceil(exact), 1.0)
    return np.where(k[None, :] <= 0, 0.0, np.where(days > LONGEST_DAYS, np.nan, days))


def _rows_of(batch: Batch, rows: np.ndarray) -> Batch:
    """The batch narrowed to some problems."""
    return Batch(*(None if x is None else x[rows] for x in (batch.size, batch.rate, batch.start, batch.closes, batch.enrolled,
                                                             batch.target, batch.left, batch.ratios)))


def _days(batch: Batch) -> np.ndarray:
    """completion_days of every problem (columns) at each of PROBS (rows): the closed form where the sites
    share one probability, else the bisection on arrays."""
    n = len(batch.target)
    days = np.full((len(PROBS), n), np.nan)
    shared = _one_probability(batch)
    if shared.any():  # the closed form: one scipy call for all of them
        days[:, shared] = _closed_form_days(batch, shared)
    if (~shared).any():
        q = np.repeat(np.array(PROBS), (~shared).sum())
        days[:, ~shared] = days_at_once(_rows_of(batch, np.flatnonzero(~shared)), q).reshape(len(PROBS), -1)
    return days


def outlooks_at_once(problems: list[Problem]) -> list[Outlook]:
    """forecast_sites (without rows per site) for many trials at once: the number by the planned end, the chance
    on time and the completion days, every step on arrays for all of them (numpy only)."""
    if not problems:
        return []
    batch = batch_of(problems)
    n = len(problems)
    chance = chances_at_once(batch, np.arange(n), batch.left, batch.target)
    by_end = by_end_at_once(batch)
    days = _days(batch)

    def day(x: float) -> float | None:
        return None if math.isnan(x) else float(x)

    return [Outlook(int(by_end[i, 1]), int(by_end[i, 0]), int(by_end[i, 2]), float(chance[i]), day(days[1][i]), day(days[0][i]), day(days[2][i]), [])
            for i in range(len(problems))]
