"""Deterministic synthetic e-commerce traffic: shop events for the Avro schemas ``shop_event.v1/v2``.

The model is a small, seeded simulation (catalogue with Zipf popularity, campaigns with their own
funnel probabilities, interleaved sessions walking view -> click -> add_to_cart -> purchase) so that
the downstream KPIs have known answers: tests compare measured conversion to ``configured_conversion``.

It feeds a producer that must send >= 100k events/s from one process, so everything that can be is
precomputed at construction (catalogue strings, a stratified Zipf pool, inter-arrival gaps) and the
hot path is plain local-variable code that builds exactly one dict per event.
"""

from __future__ import annotations

import math
import random
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from itertools import chain, count, islice
from typing import Any

CATEGORIES: tuple[str, ...] = (
    "electronics",
    "fashion",
    "home",
    "beauty",
    "sports",
    "toys",
    "books",
    "grocery",
    "garden",
    "automotive",
)
"""The fixed category list; every SKU belongs to exactly one of them."""

# Typical (median) price per category in EUR, so that amounts per category look plausible.
_CATEGORY_MEDIAN_EUR: dict[str, float] = {
    "electronics": 120.0,
    "fashion": 45.0,
    "home": 60.0,
    "beauty": 25.0,
    "sports": 55.0,
    "toys": 30.0,
    "books": 15.0,
    "grocery": 8.0,
    "garden": 40.0,
    "automotive": 70.0,
}
_PRICE_SIGMA = 0.7
MIN_PRICE_CENTS = 499
MAX_PRICE_CENTS = 49_999

DEVICES: tuple[str, ...] = ("mobile", "desktop", "tablet")
# Cumulative shares of mobile, desktop, tablet; the rest of the sessions have an unknown (null) device.
_DEVICE_CUMULATIVE = (0.58, 0.90, 0.97)

COUPON_CODES: tuple[str, ...] = ("WELCOME10", "SPRING15", "VIP20", "FREESHIP", "BUNDLE5", "FLASH25")

_GAP_POOL_SIZE = 1 << 12  # power of two: the hot loop indexes it with a mask
_MIN_ZIPF_POOL = 1 << 17
_MAX_ZIPF_POOL = 1 << 22
_ID_BLOCK_BITS = 36
_ID_SUFFIXES = 1 << 12
_MAX_CAMPAIGNS = 1_000
_MAX_SKUS = 100_000

Event = dict[str, Any]


def _require_int(name: str, value: object, low: int | None = None, high: int | None = None) -> None:
    """Reject non-ints (bools too: ``True`` is an int, never a meaningful count) and out-of-range values."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"TrafficConfig.{name} must be an int, got {value!r}")
    if (low is not None and value < low) or (high is not None and value > high):
        bounds = f"[{'-inf' if low is None else low}, {'inf' if high is None else high}]"
        raise ValueError(f"TrafficConfig.{name} must be in {bounds}, got {value!r}")


def _require_float(
    name: str, value: object, low: float, high: float | None = None, *, low_open: bool = False
) -> None:
    """Reject non-numbers, NaN/inf and values outside the interval (optionally open at the low end)."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ValueError(f"TrafficConfig.{name} must be a finite number, got {value!r}")
    too_low = value <= low if low_open else value < low
    if too_low or (high is not None and value > high):
        bounds = f"{'(' if low_open else '['}{low}, {'inf' if high is None else high}]"
        raise ValueError(f"TrafficConfig.{name} must be in {bounds}, got {value!r}")


@dataclass(frozen=True)
class TrafficConfig:
    """Everything that shapes the stream; with ``start_ms`` set, the stream is a pure function of it."""

    seed: int = 0
    users: int = 100_000
    """User ids are 1..users (matches ``demographics.id``)."""
    skus: int = 2_000
    campaigns: int = 12
    zipf_exponent: float = 1.1
    """Popularity of the SKU at rank r is proportional to r**-exponent (0 = uniform)."""
    click_probability: float = 0.3
    """Base P(click | session viewed items); each campaign multiplies it by its own factor."""
    add_to_cart_probability: float = 0.35
    """Base P(add_to_cart | click)."""
    purchase_probability: float = 0.5
    """Base P(purchase | add_to_cart)."""
    campaign_spread: float = 0.5
    """Per-campaign factors are uniform in [1 - spread, 1 + spread]; 0 makes all campaigns equal."""
    max_views_per_session: int = 5
    max_units: int = 5
    coupon_probability: float = 0.15
    """Share of purchases carrying a coupon code (visible with schema version 2 only)."""
    events_per_second: float = 100_000.0
    """Simulated rate: how fast event_time advances per event (mean gap = 1000 / rate ms)."""
    start_ms: int | None = None
    """Event time of the stream start (epoch ms); None = wall clock when the model is built."""
    schema_version: int = 2
    concurrent_sessions: int = 128
    """Sessions in flight at once; their events interleave in the stream."""

    def __post_init__(self) -> None:
        """Fail at construction, naming the field, rather than producing a subtly wrong stream."""
        _require_int("seed", self.seed)
        _require_int("users", self.users, 1)
        _require_int("skus", self.skus, 1, _MAX_SKUS)
        _require_int("campaigns", self.campaigns, 1, _MAX_CAMPAIGNS)
        _require_float("zipf_exponent", self.zipf_exponent, 0.0, 10.0)
        _require_float("click_probability", self.click_probability, 0.0, 1.0)
        _require_float("add_to_cart_probability", self.add_to_cart_probability, 0.0, 1.0)
        _require_float("purchase_probability", self.purchase_probability, 0.0, 1.0)
        _require_float("campaign_spread", self.campaign_spread, 0.0, 0.99)
        _require_int("max_views_per_session", self.max_views_per_session, 1, 1_000)
        _require_int("max_units", self.max_units, 1, 1_000)
        _require_float("coupon_probability", self.coupon_probability, 0.0, 1.0)
        _require_float("events_per_second", self.events_per_second, 0.0, 1e9, low_open=True)
        if self.start_ms is not None:
            _require_int("start_ms", self.start_ms, 0)
        if self.schema_version not in (1, 2) or isinstance(self.schema_version, bool):
            raise ValueError(f"TrafficConfig.schema_version must be 1 or 2, got {self.schema_version!r}")
        _require_int("concurrent_sessions", self.concurrent_sessions, 1, 100_000)


@dataclass(frozen=True)
class CatalogueItem:
    """One SKU: its category and unit price (cents), fixed for the model's lifetime."""

    sku: str
    category: str
    price_cents: int


@dataclass(frozen=True)
class CampaignProfile:
    """A campaign's funnel probabilities (already multiplied by its factor and capped at 1)."""

    campaign_id: str
    click_probability: float
    add_to_cart_probability: float
    purchase_probability: float

    @property
    def conversion(self) -> float:
        """P(purchase | click): what the purchases/clicks KPI converges to for this campaign."""
        return self.add_to_cart_probability * self.purchase_probability


def _build_catalogue(rng: random.Random, skus: int) -> tuple[CatalogueItem, ...]:
    """Log-normal prices around a per-category median, rounded to 'x.99' and clamped to 4.99..499.99."""
    items = []
    for index in range(skus):
        category = CATEGORIES[int(rng.random() * len(CATEGORIES))]
        euros = _CATEGORY_MEDIAN_EUR[category] * rng.lognormvariate(0.0, _PRICE_SIGMA)
        cents = min(MAX_PRICE_CENTS, max(MIN_PRICE_CENTS, round(euros) * 100 - 1))
        items.append(CatalogueItem(f"sku-{index:05d}", category, cents))
    return tuple(items)


def _build_campaigns(rng: random.Random, config: TrafficConfig) -> tuple[CampaignProfile, ...]:
    """Each campaign draws one factor per funnel step, so campaigns differ in CTR and conversion."""
    spread = config.campaign_spread

    def scaled(base: float) -> float:
        return min(1.0, base * (1.0 + spread * (2.0 * rng.random() - 1.0)))

    return tuple(
        CampaignProfile(
            campaign_id=f"cmp-{index:03d}",
            click_probability=scaled(config.click_probability),
            add_to_cart_probability=scaled(config.add_to_cart_probability),
            purchase_probability=scaled(config.purchase_probability),
        )
        for index in range(config.campaigns)
    )


def zipf_weights(skus: int, exponent: float) -> list[float]:
    """Normalised Zipf probabilities by popularity rank (rank 1 first); tests use it as the reference."""
    weights = [(rank + 1) ** -exponent for rank in range(skus)]
    total = math.fsum(weights)
    return [weight / total for weight in weights]


def _zipf_pool(rng: random.Random, skus: int, exponent: float) -> list[int]:
    """SKU indexes repeated in proportion to popularity, so one uniform index draw is one Zipf draw.

    Stratified (largest-remainder quotas) rather than sampled, so the pool's shares match the exponent
    up to 1/size; the size is a power of two so that ``getrandbits`` indexes it without bias or ``int()``.
    Which SKU gets which rank is a seeded shuffle, so popularity is not the SKU number.
    """
    size = min(max(_MIN_ZIPF_POOL, 1 << (64 * skus - 1).bit_length()), _MAX_ZIPF_POOL)
    quotas = [share * size for share in zipf_weights(skus, exponent)]
    counts = [int(quota) for quota in quotas]
    by_remainder = sorted(range(skus), key=lambda rank: quotas[rank] - counts[rank], reverse=True)
    for rank in by_remainder[: size - sum(counts)]:
        counts[rank] += 1
    sku_of_rank = list(range(skus))
    rng.shuffle(sku_of_rank)
    pool: list[int] = []
    for rank, copies in enumerate(counts):
        pool += [sku_of_rank[rank]] * copies
    return pool


def _uuid_sequence(rng: random.Random) -> Iterator[str]:
    """Unique UUID-shaped (version 4 layout) strings, fixed by the seed and cheap on the hot path.

    Formatting 128 random bits per event costs ~1 us; instead the first 20 hex digits are a seeded random
    head, the next 9 a 36-bit bijection of a block counter (odd multiplier, XOR key) formatted once per
    4,096 ids, and the last 3 walk a seeded permutation of 000..fff. Ids are unique for 2**48 draws and
    each costs one string concatenation, driven by C iterators.
    """
    head = (
        f"{rng.getrandbits(32):08x}-{rng.getrandbits(16):04x}-4{rng.getrandbits(12):03x}-"
        f"{8 | rng.getrandbits(2):x}{rng.getrandbits(12):03x}-"
    )
    multiplier = rng.getrandbits(_ID_BLOCK_BITS) | 1
    key = rng.getrandbits(_ID_BLOCK_BITS)
    block_mask = (1 << _ID_BLOCK_BITS) - 1
    suffixes = [f"{low:03x}" for low in range(_ID_SUFFIXES)]
    rng.shuffle(suffixes)
    prefixes = (head + f"{((block * multiplier) & block_mask) ^ key:09x}" for block in count())
    return chain.from_iterable(map(prefix.__add__, suffixes) for prefix in prefixes)


def _poisson_gaps_ps(rng: random.Random, events_per_second: float) -> list[int]:
    """Exponential inter-arrival gaps (a Poisson process), cycled by the hot loop.

    Rescaled so the pool's mean is exactly the configured gap: 4,096 raw draws would miss the
    configured rate by ~1.5%, forever, since the same pool repeats.
    """
    draws = [rng.expovariate(1.0) for _ in range(_GAP_POOL_SIZE)]
    scale = 1e12 / events_per_second * len(draws) / math.fsum(draws)
    return [round(draw * scale) for draw in draws]


class TrafficModel:
    """A seeded, infinite stream of shop-event dicts ready for the Avro serializer.

    The model owns one stream: ``events()`` always returns the same iterator and ``take`` continues it,
    so repeated ``take`` calls never repeat an event. Every yielded dict is new (the caller may keep or
    mutate it); for schema version 1 it has exactly the v1 fields, for version 2 also device/coupon_code.
    """

    def __init__(self, config: TrafficConfig) -> None:
        self.config = config
        self.start_ms: int = config.start_ms if config.start_ms is not None else time.time_ns() // 1_000_000
        self._rng = random.Random(config.seed)
        self.catalogue: tuple[CatalogueItem, ...] = _build_catalogue(self._rng, config.skus)
        self.campaigns: tuple[CampaignProfile, ...] = _build_campaigns(self._rng, config)
        self._campaign_by_id = {campaign.campaign_id: campaign for campaign in self.campaigns}
        self._sku_pool = _zipf_pool(self._rng, config.skus, config.zipf_exponent)
        self._gaps_ps = _poisson_gaps_ps(self._rng, config.events_per_second)
        self._next_event_id = _uuid_sequence(self._rng).__next__
        self._next_session_id = _uuid_sequence(self._rng).__next__
        self._next_order_id = _uuid_sequence(self._rng).__next__
        self._stream = self._generate()

    def events(self) -> Iterator[Event]:
        """The model's infinite event stream (the same iterator on every call)."""
        return self._stream

    def take(self, n: int) -> list[Event]:
        """The next ``n`` events of the stream."""
        if n < 0:
            raise ValueError(f"n must be >= 0, got {n}")
        return list(islice(self._stream, n))

    def configured_conversion(self, campaign_id: str) -> float:
        """P(purchase | click) configured for a campaign, to compare with measured purchases / clicks."""
        try:
            return self._campaign_by_id[campaign_id].conversion
        except KeyError:
            raise KeyError(f"unknown campaign {campaign_id!r}") from None

    def _template(self) -> Event:
        """All schema fields in schema order with the values of a view; sessions copy and fill it."""
        template: Event = {
            "event_id": "",
            "event_time": 0,
            "user_id": 0,
            "session_id": "",
            "campaign_id": "",
            "tag": "view",
            "order_id": None,
            "sku": "",
            "category": "",
            "total_amount_cents": 0,
            "units": 0,
        }
        if self.config.schema_version == 2:
            template |= {"device": None, "coupon_code": None}
        return template

    def _session_factory(self) -> Callable[[], list[Event]]:
        """Build the closure that creates one whole session, its events in reverse order (pop = next).

        Runs once per session on the hot path, so every table is a closure local, uniform draws are
        ``getrandbits(32) % n`` (bias <= n / 2**32, far below sampling noise; ~4x cheaper than
        ``int(random() * n)``) and events are ``dict.copy()`` of a template plus a few assignments
        (~3x cheaper than a dict literal). The device is drawn for v1 too, so the v1 and v2 streams of
        one seed differ only by the v2 keys.
        """
        bits = self._rng.getrandbits
        rnd = self._rng.random
        sku_ids = [item.sku for item in self.catalogue]
        categories = [item.category for item in self.catalogue]
        pool = self._sku_pool
        pool_bits = len(pool).bit_length() - 1
        campaign_ids = [campaign.campaign_id for campaign in self.campaigns]
        users, max_views = self.config.users, self.config.max_views_per_session
        v2 = self.config.schema_version == 2
        mobile, desktop, tablet = _DEVICE_CUMULATIVE
        template = self._template()
        next_event_id, next_session_id = self._next_event_id, self._next_session_id
        continue_funnel = self._funnel_factory()

        def new_session() -> list[Event]:
            c = bits(32) % len(campaign_ids)
            base = template.copy()
            base["user_id"] = bits(32) % users + 1
            base["session_id"] = next_session_id()
            base["campaign_id"] = campaign_ids[c]
            u = rnd()
            device = (
                "mobile" if u < mobile else "desktop" if u < desktop else "tablet" if u < tablet else None
            )
            if v2:
                base["device"] = device
            events: list[Event] = []
            for _ in range(bits(32) % max_views + 1):
                event = base.copy()
                event["event_id"] = next_event_id()
                k = pool[bits(pool_bits)]
                event["sku"] = sku_ids[k]
                event["category"] = categories[k]
                events.append(event)
            continue_funnel(events, c)
            events.reverse()
            return events

        return new_session

    def _funnel_factory(self) -> Callable[[list[Event], int], None]:
        """Build the closure that walks a session past its views: click, add_to_cart, purchase.

        The clicked item is one of the session's views; each step happens only with the campaign's
        probability given the previous one. The coupon is drawn for v1 too (see ``_session_factory``).
        """
        bits = self._rng.getrandbits
        rnd = self._rng.random
        price_of: dict[object, int] = {item.sku: item.price_cents for item in self.catalogue}
        funnel = [
            (c.click_probability, c.add_to_cart_probability, c.purchase_probability) for c in self.campaigns
        ]
        max_units, p_coupon = self.config.max_units, self.config.coupon_probability
        v2 = self.config.schema_version == 2
        next_event_id, next_order_id = self._next_event_id, self._next_order_id

        def continue_funnel(events: list[Event], c: int) -> None:
            p_click, p_cart, p_buy = funnel[c]
            if rnd() >= p_click:
                return
            event = events[bits(32) % len(events)].copy()
            event["event_id"] = next_event_id()
            event["tag"] = "click"
            events.append(event)
            if rnd() >= p_cart:
                return
            event = event.copy()
            event["event_id"] = next_event_id()
            event["tag"] = "add_to_cart"
            events.append(event)
            if rnd() >= p_buy:
                return
            event = event.copy()
            event["event_id"] = next_event_id()
            event["tag"] = "purchase"
            event["order_id"] = next_order_id()
            units = 1 + int(rnd() ** 2 * max_units)
            event["units"] = units
            event["total_amount_cents"] = units * price_of[event["sku"]]
            coupon = COUPON_CODES[bits(32) % len(COUPON_CODES)] if rnd() < p_coupon else None
            if v2:
                event["coupon_code"] = coupon
            events.append(event)

        return continue_funnel

    def _generate(self) -> Iterator[Event]:
        """Interleave a pool of in-flight sessions; a global clock stamps event_time at emission.

        Stamping at emission makes event_time non-decreasing across the stream and hence within every
        session. The clock is an integer count of picoseconds since start: exact (no float drift) and
        fine-grained at any configured rate.
        """
        new_session = self._session_factory()
        bits = self._rng.getrandbits
        slots = self.config.concurrent_sessions
        sessions = [new_session() for _ in range(slots)]
        gaps = self._gaps_ps
        gap_mask = len(gaps) - 1
        start = self.start_ms
        offset_ps = 0
        n = 0
        while True:
            i = bits(32) % slots
            session = sessions[i]
            event = session.pop()
            if not session:
                sessions[i] = new_session()
            offset_ps += gaps[n & gap_mask]
            n += 1
            event["event_time"] = start + offset_ps // 1_000_000_000
            yield event


@dataclass
class Resends:
    """At-least-once delivery, as users' sources have it: a ``fraction`` of the events is sent again
    ``delay`` events later (a retried request, a producer that restarts and resends what it had not
    seen acknowledged): the same event, byte for byte. Seeded; ``sent`` counts the copies."""

    fraction: float
    delay: int  # events between an event and its copy (rate x seconds)
    seed: int = 0
    sent: int = 0

    def __post_init__(self) -> None:
        if not 0 <= self.fraction <= 1:
            raise ValueError(f"fraction must be within 0..1, got {self.fraction}")
        if self.delay < 0:
            raise ValueError(f"delay must be >= 0 events, got {self.delay}")

    def apply(self, events: Iterator[Event]) -> Iterator[Event]:
        """The stream with the copies mixed in (a copy is due ``delay`` events after its original)."""
        rng = random.Random(self.seed)
        due: deque[tuple[int, Event]] = deque()
        for n, event in enumerate(events):
            while due and due[0][0] <= n:
                self.sent += 1
                yield dict(due.popleft()[1])
            if self.fraction and rng.random() < self.fraction:
                due.append((n + self.delay, dict(event)))
            yield event
