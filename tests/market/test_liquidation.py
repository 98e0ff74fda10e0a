"""Liquidation value: what the market maker pays now for a whole holding (DESIGN.md, Scoring)."""

from __future__ import annotations

import math
from decimal import localcontext

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from forecast.market import lmsr
from forecast.market.money import UNIT, floor_units


@st.composite
def markets(draw):
    """A market with every price inside the limits (q spread within b ln 50, n <= 20)."""
    n = draw(st.integers(min_value=2, max_value=20))
    b = draw(st.integers(min_value=1 * UNIT, max_value=10_000 * UNIT))
    spread = int(b * math.log(50))
    return [draw(st.integers(min_value=-spread // 2, max_value=spread // 2)) for _ in range(n)], b


def exact(q, b, held) -> int:
    """C(q) - C(q - held) at 50 digits, rounded down as sell_proceeds rounds."""
    after = [qi - hi for qi, hi in zip(q, held, strict=True)]
    with localcontext(lmsr._CTX):
        return max(floor_units(lmsr.cost(q, b) - lmsr.cost(after, b) - lmsr._EPS), 0)


@st.composite
def holdings(draw):
    q, b = draw(markets())
    held = [draw(st.integers(min_value=0, max_value=20 * b)) for _ in q]
    return q, b, held


@settings(max_examples=300, deadline=None)
@given(holdings())
def test_the_float_path_gives_the_exact_value(case):
    q, b, held = case
    assert lmsr.liquidation_value(q, b, held) == exact(q, b, held)


@settings(max_examples=200, deadline=None)
@given(markets(), st.data())
def test_one_outcome_fetches_what_selling_it_pays(market, data):
    q, b = market
    i = data.draw(st.integers(min_value=0, max_value=len(q) - 1))
    shares = data.draw(st.integers(min_value=1, max_value=20 * b))
    held = [0] * len(q)
    held[i] = shares
    assert lmsr.liquidation_value(q, b, held) == lmsr.sell_proceeds(q, b, i, shares)


@settings(max_examples=200, deadline=None)
@given(holdings())
def test_it_is_at_most_the_shares_the_holding_would_pay_if_any_outcome_won(case):
    q, b, held = case
    value = lmsr.liquidation_value(q, b, held)
    assert 0 <= value <= max(held)


def test_nothing_held_is_worth_nothing_and_a_bad_holding_is_refused():
    q, b = [0, 0], 100 * UNIT
    assert lmsr.liquidation_value(q, b, [0, 0]) == 0
    assert lmsr.liquidation_values(q, b, [{}, {0: UNIT}, {0: UNIT, 1: UNIT}]) == [
        0,
        lmsr.sell_proceeds(q, b, 0, UNIT),
        UNIT - 1,  # one share of each outcome: exactly 1 point, rounded down as the house does
    ]
    with pytest.raises(lmsr.InvalidTrade):
        lmsr.liquidation_value(q, b, [-1, 0])
    with pytest.raises(lmsr.InvalidTrade):
        lmsr.liquidation_value(q, b, [1])
    for bad in ({2: UNIT}, {0: 0}, {0: UNIT, 1: -1}):
        with pytest.raises(lmsr.InvalidTrade):
            lmsr.liquidation_values(q, b, [bad])


def test_near_integer_values_go_to_the_exact_path():
    """A value within the float bound of an integer is decided at 50 digits."""
    q, b = [0, 0], 100 * UNIT
    for shares in range(1, 3000, 7):
        held = [shares, shares]  # worth exactly `shares` points' units: C(q) - C(q - s·1) = s
        assert lmsr.liquidation_value(q, b, held) == exact(q, b, held) == shares - 1


trades = st.lists(
    st.tuples(
        st.sampled_from(["spend", "sell"]),
        st.integers(min_value=0, max_value=19),
        st.integers(min_value=1, max_value=200 * UNIT),
    ),
    min_size=1,
    max_size=12,
)


@settings(max_examples=300, deadline=None)
@given(markets(), trades)
def test_no_sequence_of_one_players_trades_raises_their_net_worth(market, moves):
    """Balance plus liquidation value, in a market no one else touches, never rises."""
    q, b = market
    q = list(q)
    held = [0] * len(q)
    balance = 0
    start = balance + lmsr.liquidation_value(q, b, held)
    for kind, outcome, amount in moves:
        i = outcome % len(q)
        try:
            if kind == "spend":
                quote = lmsr.quote_spend(q, b, i, amount)
            else:
                quote = lmsr.quote_sell(q, b, i, min(amount, held[i]), held[i])
        except lmsr.MarketError:
            continue
        q[i] += quote.shares
        held[i] += quote.shares
        balance -= quote.cost
        assert balance + lmsr.liquidation_value(q, b, held) <= start
