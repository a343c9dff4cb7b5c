"""The known conversion truth of the synthetic platform: which clicks convert, and when.

A click converts within the attribution window with probability ``p_cvr = sigmoid(base +
price + offer + landing + intent + device + slot + hour + age + affinity)``, defined for every
impression (as "if it were clicked"). The effects differ in part from the click truth's
(``synth_truth``), so a click model used as a conversion model is measurably wrong:

- ``price``: the ad's price level (its log price against its vertical's typical price, in
  units of ``PRICE_SPREAD``) lowers conversion, and so does a dear vertical (a holiday is
  bought less readily than a lipstick). Price has no effect on the click.
- ``offer``: ``OFFER_CVR_EFFECT`` per offer phrase. Discounts help both, but a free trial or
  free shipping converts best while "50% off" and "buy one, get one free" draw more clicks than
  buyers; "Learn more" clickers browse, "Sign up today" clickers have decided.
- ``landing``: a per-ad latent (landing page, checkout), independent of the click quality.
- ``intent``: a per-user latent purchase propensity; the click truth has none.
- ``device``: desktop converts best, mobile least (mobile feeds draw the most clicks).
- ``slot``: search converts best (the user is looking for something), in-article least.
- ``hour``: highest in the early afternoon, lowest in the small hours (clicks peak at 20:00).
- ``age``: the youngest band converts least, the middle bands most.
- ``affinity``: matches of the ad's fine topic in the user's history help, far less than they
  help the click.
- no position effect: a lower position costs clicks, not the purchase after one.

``base`` is solved so the expected conversion rate of clicks, ``sum(p_ctr·p_cvr) /
sum(p_ctr)``, is ``SynthConfig.cvr_mean``. ``ConversionTruth`` holds what the formula draws
(merchants, intent) and solves (``base``): the probability of any impression, logged or not.

Delay: an advertiser's conversions arrive after a mixture of a fast exponential part (impulse
buys, mean ``FAST_MEAN_S``) and a slow log-normal part with a long tail (considered buys). Each
advertiser's fast share and slow median are drawn around population values calibrated so that,
pooled over the expected conversions and cut at the attribution window, the configured shares
arrive within an hour and within a day (Criteo reports about 35% and 50%). A conversion later
than the log's cut (``SynthConfig.cut_ts``) is not in the log: its click is immature.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

import numpy as np
from scipy.special import ndtr, ndtri

from model_export.data.synth_text import OFFERS
from model_export.data.synth_truth import AGE_BANDS, DEVICES, SLOTS, sigmoid

if TYPE_CHECKING:
    from model_export.data.synth import SynthConfig
    from model_export.data.synth_sampling import Ads, Catalog, Impressions

HOUR_S = 3600
DAY_S = 86_400
# typical order value per vertical (currency units): what a conversion costs the buyer
VERTICAL_PRICE: dict[str, float] = {
    "Travel": 900.0, "Fashion": 90.0, "Sports & Outdoors": 120.0, "Finance": 60.0,
    "Gaming": 50.0, "Food Delivery": 30.0, "Electronics": 350.0, "Home & Garden": 150.0,
    "Beauty": 35.0, "Auto": 1500.0, "Education": 250.0, "Health & Fitness": 60.0, "Pets": 40.0,
}  # fmt: skip
PRICE_SPREAD = 0.6  # std of an ad's log price around its vertical's typical price
PRICE_WEIGHT = 0.5  # conversion logit per unit of price level (negative effect)
VERTICAL_PRICE_WEIGHT = 0.3  # conversion logit per unit of the vertical's log price
OFFER_CVR_EFFECT: dict[str, float] = {
    "Limited-time deal: 50% off": 0.30,
    "Buy one, get one free": 0.10,
    "30% off your first order": 0.35,
    "Try it free for 30 days": 0.50,
    "Free shipping on every order": 0.30,
    "New collection available now": -0.20,
    "Sign up today": 0.25,
    "Learn more on our website": -0.45,
}
DEVICE_CVR: dict[str, float] = {"mobile": -0.25, "desktop": 0.30, "tablet": 0.05}
SLOT_CVR: dict[str, float] = {"feed": -0.10, "search": 0.40, "sidebar": -0.05, "in_article": -0.25}
AGE_CVR: dict[str, float] = {"18-24": -0.35, "25-34": 0.0, "35-44": 0.15, "45-54": 0.20,
                             "55+": 0.10}  # fmt: skip
AFFINITY_CVR_WEIGHT = 0.2  # on log1p(k_topic); the click truth's weight is topic_weight
FAST_MEAN_S = 15 * 60  # mean delay of the fast (impulse) part
SLOW_SIGMA = 1.5  # log-normal sigma of the slow part: the long tail
FAST_SHARE_SPREAD = 0.8  # advertisers' fast shares around the population's (logit std)
SLOW_MEDIAN_SPREAD = 0.5  # advertisers' slow medians around the population's (log std)
VERTICAL_DELAY_WEIGHT = 0.3  # a dear vertical's buyers take longer (log median per log price)


def _by_name(effects: Mapping[str, float], names: Sequence[str]) -> np.ndarray:
    """An effect table as an array in the order of the code tuple ``names``."""
    return np.array([effects[name] for name in names])


OFFER_CVR = _by_name(OFFER_CVR_EFFECT, [o.phrase for o in OFFERS])
DEVICE_CVR_EFFECT = _by_name(DEVICE_CVR, DEVICES)
SLOT_CVR_EFFECT = _by_name(SLOT_CVR, SLOTS)
AGE_CVR_EFFECT = _by_name(AGE_CVR, AGE_BANDS)


@dataclass(frozen=True)
class Merchants:
    """Per ad, what the conversion truth reads besides its offer."""

    price: np.ndarray  # observable: the ad's price
    price_level: np.ndarray  # log price against the vertical's typical one, in PRICE_SPREADs
    vertical_price: np.ndarray  # the vertical's log typical price, centred over verticals
    landing: np.ndarray  # latent conversion logit effect
    advertiser: np.ndarray  # advertiser code (its brand)


@dataclass(frozen=True)
class Delays:
    """Per advertiser: the fast part's share and the slow part's median of its delays."""

    fast_share: np.ndarray
    slow_log_median: np.ndarray  # log seconds


@dataclass(frozen=True)
class ConversionTruth:
    """The conversion truth's own parameters: merchants, per-user intent, the calibrated
    ``base``; the rest it reads from the ads, impressions and ``k_topic``."""

    merchants: Merchants
    intent: np.ndarray  # per user: purchase intent (conversion logit)
    base: float = 0.0

    def logit(self, ads: Ads, imps: Impressions, k_topic: np.ndarray) -> np.ndarray:
        """The conversion logit of each impression without ``base``."""
        return cvr_logit(self.merchants, ads, self.intent, imps, k_topic)

    def probability(self, ads: Ads, imps: Impressions, k_topic: np.ndarray) -> np.ndarray:
        """The true conversion probability of each impression (as if clicked)."""
        return sigmoid(self.base + self.logit(ads, imps, k_topic))


@dataclass(frozen=True)
class Conversions:
    """The conversion truth and labels of a synthetic log."""

    truth: ConversionTruth
    delays: Delays
    p_cvr: np.ndarray  # per impression: true conversion probability of a click
    eventually: np.ndarray  # bool: clicked and converts within the attribution window
    converted: np.ndarray  # bool: ... and the conversion is in the log (before the cut)
    conversion_ts: np.ndarray  # int64 unix seconds where ``eventually`` (else 0)


def vertical_log_price(verticals: Sequence[str]) -> np.ndarray:
    """Each vertical's log typical price, centred over the verticals."""
    log_price = np.log([VERTICAL_PRICE[v] for v in verticals])
    return log_price - log_price.mean()


def make_merchants(
    rng: np.random.Generator, config: SynthConfig, catalog: Catalog, ads: Ads
) -> Merchants:
    """Prices (log-normal around the vertical's typical price), landing quality, advertisers."""
    n = len(ads.topic)
    typical = np.array([VERTICAL_PRICE[v] for v in catalog.verticals])[ads.vertical]
    price = np.round(typical * np.exp(PRICE_SPREAD * rng.standard_normal(n)), 2)
    _, advertiser = np.unique(ads.brand.astype(str), return_inverse=True)
    return Merchants(
        price=price,
        price_level=np.log(price / typical) / PRICE_SPREAD,
        vertical_price=vertical_log_price(catalog.verticals)[ads.vertical],
        landing=rng.normal(0.0, config.landing_std, n),
        advertiser=advertiser.astype(np.int64),
    )


def price_effect(price_level: np.ndarray, vertical_price: np.ndarray) -> np.ndarray:
    """Conversion logit effect of price: dearer than the vertical's usual, or a dear vertical,
    converts less."""
    return -PRICE_WEIGHT * price_level - VERTICAL_PRICE_WEIGHT * vertical_price


def hour_cvr_effect(hour: np.ndarray) -> np.ndarray:
    """Conversion logit effect of the hour of day: highest at 14:00, lowest at 02:00."""
    return 0.25 * np.cos(2 * np.pi * (hour - 14) / 24)


def cvr_logit(
    merchants: Merchants,
    ads: Ads,
    intent: np.ndarray,
    imps: Impressions,
    k_topic: np.ndarray,
) -> np.ndarray:
    """The conversion logit of each impression without ``base``."""
    ad, ctx = imps.ad, imps.context()
    return (
        price_effect(merchants.price_level[ad], merchants.vertical_price[ad])
        + OFFER_CVR[ads.offer[ad]]
        + merchants.landing[ad]
        + intent[imps.user]
        + DEVICE_CVR_EFFECT[ctx["device"]]
        + SLOT_CVR_EFFECT[ctx["slot"]]
        + hour_cvr_effect(ctx["hour"])
        + AGE_CVR_EFFECT[ctx["age"]]
        + AFFINITY_CVR_WEIGHT * np.log1p(k_topic)
    )


def _solve(f: Callable[[float], float], target: float, lo: float, hi: float) -> float:
    """The x in [lo, hi] with ``f(x) == target`` for an increasing ``f`` (bisection)."""
    for _ in range(60):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if f(mid) < target else (lo, mid)
    return (lo + hi) / 2


def calibrate_cvr_base(logit: np.ndarray, p_ctr: np.ndarray, cvr_mean: float) -> float:
    """The ``base`` whose expected conversions per expected click are ``cvr_mean``."""
    weight = p_ctr / p_ctr.sum()
    return _solve(lambda base: float(weight @ sigmoid(base + logit)), cvr_mean, -20.0, 20.0)


def make_conversion_truth(
    streams: Sequence[np.random.Generator],
    config: SynthConfig,
    catalog: Catalog,
    ads: Ads,
    imps: Impressions,
    k_topic: np.ndarray,
    p_ctr: np.ndarray,
) -> ConversionTruth:
    """Merchants and intent from two streams (ads, users); ``base`` solved on the logged
    impressions, weighted by their click probability ``p_ctr``."""
    merchants = make_merchants(streams[0], config, catalog, ads)
    intent = streams[1].normal(0.0, config.intent_std, config.n_users)
    truth = ConversionTruth(merchants, intent)
    base = calibrate_cvr_base(truth.logit(ads, imps, k_topic), p_ctr, config.cvr_mean)
    return replace(truth, base=base)


def _fast_cdf(t: float | np.ndarray) -> np.ndarray:
    return 1.0 - np.exp(-np.asarray(t, dtype=np.float64) / FAST_MEAN_S)


def _slow_cdf(t: float | np.ndarray, log_median: np.ndarray) -> np.ndarray:
    return ndtr((np.log(t) - log_median) / SLOW_SIGMA)


def delay_cdf(t: float | np.ndarray, delays: Delays) -> np.ndarray:
    """Per advertiser, the share of its conversions within ``t`` seconds (no window)."""
    w = delays.fast_share
    return w * _fast_cdf(t) + (1 - w) * _slow_cdf(t, delays.slow_log_median)


def pooled_share(t: float, delays: Delays, weight: np.ndarray, window_s: float) -> float:
    """The share of conversions within ``t`` seconds of the click among those within the
    window, pooled over advertisers weighted by ``weight`` (their expected conversions)."""
    return float(weight @ delay_cdf(t, delays) / (weight @ delay_cdf(window_s, delays)))


def make_delays(
    rng: np.random.Generator,
    config: SynthConfig,
    vertical_price: np.ndarray,
    weight: np.ndarray,
) -> Delays:
    """Per advertiser (``vertical_price``: its vertical's centred log price; ``weight``: its
    expected conversions), a delay mixture calibrated to the configured pooled shares."""
    n = len(vertical_price)
    fast_offset = FAST_SHARE_SPREAD * rng.standard_normal(n)
    median_offset = (
        VERTICAL_DELAY_WEIGHT * vertical_price + SLOW_MEDIAN_SPREAD * rng.standard_normal(n)
    )
    window_s = config.attribution_days * DAY_S

    def at(alpha: float, mu: float) -> Delays:
        return Delays(sigmoid(alpha + fast_offset), mu + median_offset)

    def alpha_for(mu: float) -> float:
        share = lambda a: pooled_share(HOUR_S, at(a, mu), weight, window_s)  # noqa: E731
        return _solve(share, config.delay_within_hour, -15.0, 15.0)

    def minus_day_share(mu: float) -> float:  # decreasing in the slow median
        return -pooled_share(DAY_S, at(alpha_for(mu), mu), weight, window_s)

    mu = _solve(minus_day_share, -config.delay_within_day, np.log(60.0), np.log(365.0 * DAY_S))
    delays = at(alpha_for(mu), mu)
    _check_shares(config, delays, weight, window_s)
    return delays


def _check_shares(config: SynthConfig, delays: Delays, weight: np.ndarray, window_s: float) -> None:
    for t, target, name in ((HOUR_S, config.delay_within_hour, "delay_within_hour"),
                            (DAY_S, config.delay_within_day, "delay_within_day")):  # fmt: skip
        if abs(pooled_share(t, delays, weight, window_s) - target) > 1e-3:
            raise ValueError(f"{name}={target} cannot be reached with an attribution window "
                             f"of {config.attribution_days} days")  # fmt: skip


def sample_delays(
    rng: np.random.Generator, delays: Delays, advertiser: np.ndarray, window_s: float
) -> np.ndarray:
    """One delay in seconds per row from its advertiser's mixture, cut at the window (drawn
    from the mixture conditioned on arriving within it)."""
    w, log_median = delays.fast_share[advertiser], delays.slow_log_median[advertiser]
    fast_mass, fast_window = w * _fast_cdf(window_s), _fast_cdf(window_s)
    slow_window = _slow_cdf(window_s, log_median)
    fast = rng.random(len(advertiser)) * (fast_mass + (1 - w) * slow_window) < fast_mass
    u = rng.random(len(advertiser))
    fast_delay = -FAST_MEAN_S * np.log1p(-u * fast_window)
    slow_delay = np.exp(log_median + SLOW_SIGMA * ndtri(u * slow_window))
    return np.where(fast, fast_delay, slow_delay)


def advertiser_weights(merchants: Merchants, imps: Impressions, expected: np.ndarray) -> np.ndarray:
    """Per advertiser, the sum of ``expected`` (e.g. expected conversions) over its impressions."""
    advertiser = merchants.advertiser[imps.ad]
    return np.bincount(advertiser, weights=expected, minlength=merchants.advertiser.max() + 1)


def advertiser_vertical_price(merchants: Merchants) -> np.ndarray:
    """Per advertiser, its vertical's centred log price (an advertiser sells in one vertical)."""
    _, first = np.unique(merchants.advertiser, return_index=True)
    return merchants.vertical_price[first]


def make_conversions(
    streams: Sequence[np.random.Generator],
    config: SynthConfig,
    catalog: Catalog,
    ads: Ads,
    imps: Impressions,
    k_topic: np.ndarray,
    p_ctr: np.ndarray,
    clicked: np.ndarray,
) -> Conversions:
    """The conversion truth and labels from four independent streams (ads, users,
    advertisers, draws): nothing of the click log is drawn again."""
    truth = make_conversion_truth(streams[:2], config, catalog, ads, imps, k_topic, p_ctr)
    merchants = truth.merchants
    p_cvr = truth.probability(ads, imps, k_topic)
    weight = advertiser_weights(merchants, imps, p_ctr * p_cvr)
    delays = make_delays(streams[2], config, advertiser_vertical_price(merchants), weight)
    n, window_s = len(p_cvr), config.attribution_days * DAY_S
    eventually = clicked & (streams[3].random(n) < p_cvr)
    delay = sample_delays(streams[3], delays, merchants.advertiser[imps.ad], window_s)
    conversion_ts = np.where(eventually, imps.ts + np.floor(delay).astype(np.int64), 0)
    return Conversions(
        truth=truth,
        delays=delays,
        p_cvr=p_cvr,
        eventually=eventually,
        converted=eventually & (conversion_ts <= config.cut_ts),
        conversion_ts=conversion_ts,
    )
