"""Property tests of the pure market maker."""

from __future__ import annotations

import math
import random
from decimal import Decimal, localcontext

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from forecast.market import lmsr
from forecast.market.money import UNIT, MoneyError, to_units

b_units = st.integers(min_value=1 * UNIT, max_value=10_000 * UNIT)
n_outcomes = st.integers(min_value=2, max_value=20)


@st.composite
def markets(draw):
    """A market state reachable from uniform odds: probabilities inside the limits."""
    n = draw(n_outcomes)
    b = draw(b_units)
    spread = int(b * math.log(50))  # keeps every price well inside [0.001, 0.999] for n <= 20
    q = [draw(st.integers(min_value=0, max_value=spread)) for _ in range(n)]
    return q, b


def house_gap(q, b, i, quote) -> Decimal:
    after = list(q)
    after[i] += quote.shares
    with localcontext(prec=60):
        return Decimal(quote.cost) - (lmsr.cost(after, b) - lmsr.cost(q, b))


@settings(max_examples=200, deadline=None)
@given(markets(), st.data())
def test_prices_sum_to_one(market, data):
    q, b = market
    assert math.isclose(sum(lmsr.prices(q, b)), 1.0, abs_tol=1e-12)
    with localcontext(prec=60):
        assert abs(sum(lmsr.prices_exact(q, b)) - 1) < Decimal("1e-40")


@settings(max_examples=200, deadline=None)
@given(markets(), st.data())
def test_spend_pays_exactly_the_budget_and_never_less_than_the_cost(market, data):
    q, b = market
    i = data.draw(st.integers(0, len(q) - 1))
    budget = data.draw(st.integers(min_value=1, max_value=b // 2))
    try:
        quote = lmsr.quote_spend(q, b, i, budget)
    except (lmsr.InvalidTrade, lmsr.ProbabilityLimit):
        return
    assert quote.cost == budget
    gap = house_gap(q, b, i, quote)
    assert 0 < gap < 1 + Decimal("1e-25"), (
        "cost is C(after) - C(before) rounded for the house, within one unit"
    )


@settings(max_examples=300, deadline=None)
@given(markets(), st.data())
def test_the_closed_form_buy_cost_is_buy_cost(market, data):
    # shares_for_budget checks its result with _buy_cost_at (one exp, one ln) rather
    # than buy_cost (two log-sum-exps): the same rounded number of units.
    q, b = market
    i = data.draw(st.integers(0, len(q) - 1))
    shares = data.draw(st.integers(min_value=1, max_value=4 * b))
    p = lmsr.prices_exact(q, b)[i]
    assert lmsr._buy_cost_at(p, b, shares) == lmsr.buy_cost(q, b, i, shares)


@settings(max_examples=500, deadline=None)
@given(markets(), st.data())
def test_a_spend_worked_out_in_doubles_is_the_exact_one_when_they_answer(market, data):
    q, b = market
    i = data.draw(st.integers(0, len(q) - 1))
    budget = data.draw(st.integers(min_value=1, max_value=8 * b))
    shares = lmsr._float_shares(q, b, i, budget)
    assert shares is None or shares == lmsr._exact_shares(q, b, i, budget)


def test_the_doubles_answer_almost_every_spend_of_a_class_and_the_same_as_the_exact_path():
    # A seeded sample the size of the class data: the filter must not fall back so
    # often that its speed is gone, and never answer otherwise than the 50 digits.
    rnd = random.Random(6)
    answered = 0
    for _ in range(2000):
        n, b = rnd.randint(2, 20), rnd.randint(UNIT, 10_000 * UNIT)
        q = [rnd.randint(-b, int(b * math.log(50))) for _ in range(n)]
        i, budget = rnd.randrange(n), rnd.randint(1, b)
        shares = lmsr._float_shares(q, b, i, budget)
        if shares is not None:
            answered += 1
            assert shares == lmsr._exact_shares(q, b, i, budget), (q, b, i, budget)
    assert answered >= 1990


@pytest.mark.parametrize(
    ("value", "err", "expected"),
    [
        (3.5, 0.1, 3),
        (3.05, 0.1, None),  # the exact value may lie below 3
        (2.95, 0.1, None),  # ... or at 3 and above
        (3.0, 1e-12, None),
        (-0.5, 0.1, -1),
        (0.25, 0.0, 0),
        (3.5, 0.5, None),  # at the bound is not clear of it
    ],
)
def test_the_filter_floors_only_what_its_error_cannot_move(value, err, expected):
    assert lmsr._floor_if_clear(value, err) == expected


@settings(max_examples=400, deadline=None)
@given(st.data())
def test_the_doubles_stay_inside_their_first_order_bound(data):
    # The bound itself, against 70 digits: a wrong error term (absolute for relative,
    # X left out, exp(a) - 1 for expm1, log(1 + z) for log1p) breaks it somewhere here
    # long before it would put the filter's integer off the exact one.
    n, b = data.draw(st.integers(2, 20)), data.draw(st.integers(1, 10**10))
    x = data.draw(st.sampled_from([0.0, 4.0, 50.0, 300.0, 700.0]))
    q = [-data.draw(st.integers(0, int(x * b))) for _ in range(n)]
    i, budget = data.draw(st.integers(0, n - 1)), data.draw(st.integers(1, 8 * b))
    estimate = lmsr._float_estimate(q, b, i, budget)
    assume(estimate is not None)
    shares, err, _ = estimate
    with localcontext(prec=70):
        bd, m = Decimal(b), max(q)
        es = [(Decimal(v - m) / bd).exp() for v in q]
        true = bd * (1 + ((Decimal(budget) / bd).exp() - 1) / (es[i] / sum(es))).ln()
        assert abs(Decimal(shares) - true) <= Decimal(err) / Decimal(lmsr._SAFETY)


@pytest.mark.parametrize(
    ("q", "b", "i", "budget", "exact"),
    [
        # the doubles say 2990673.0000000005
        ([0, -727708, -3760894, -7639237], 355208, 1, 2220496, 2990672),
        # the doubles say 12.999999999999996
        ([0, -256856509, -519321735, -13790201], 17005408, 3, 4, 13),
        ([0, -397781459415, -14196669081, -210123940465], 9438788923, 2, 4, 21),
    ],
)
def test_spends_within_a_doubles_error_of_an_integer_are_the_exact_paths(q, b, i, budget, exact):
    # Found by a search that tuned q until the exact shares sat a hair from an integer:
    # a plain floor of the doubles is wrong on the first two.
    assert lmsr._exact_shares(q, b, i, budget) == exact
    assert lmsr._float_shares(q, b, i, budget) is None
    assert lmsr.shares_for_budget(q, b, i, budget) == exact


def test_a_spend_whose_doubles_overflow_is_refused_not_a_crash():
    # y/p past the largest double is inf rather than an OverflowError
    q = [700 * UNIT] * 19 + [0]
    assert lmsr._float_shares(q, UNIT, 19, 8 * UNIT) is None
    with pytest.raises(lmsr.ProbabilityLimit):
        lmsr.quote_spend(q, UNIT, 19, 8 * UNIT)


def test_a_spend_the_doubles_cannot_tell_is_worked_out_at_50_digits(monkeypatch):
    q, b = [1234567, -234567, 555555], 1_000_000
    answered = lmsr.shares_for_budget(q, b, 1, 250_000)
    monkeypatch.setattr(lmsr, "_floor_if_clear", lambda value, err: None)
    assert lmsr._float_shares(q, b, 1, 250_000) is None
    assert lmsr.shares_for_budget(q, b, 1, 250_000) == answered


def test_the_doubles_step_aside_where_their_bound_does_not_hold():
    # exp(-(701)) would be past the doubles' normal range for the second outcome's price
    assert lmsr._float_shares([701 * UNIT, 0], UNIT, 1, 100) is None
    assert lmsr.shares_for_budget([701 * UNIT, 0], UNIT, 1, 100) == lmsr._exact_shares(
        [701 * UNIT, 0], UNIT, 1, 100
    )
    # ... and past a double's range: a budget, a q, a liquidity (10**400 units)
    assert lmsr._float_shares([0, 0], UNIT, 0, 10**40) is None
    assert lmsr._float_shares([10**400, 0], 10**399, 0, 100) is None
    assert lmsr._float_shares([0, 0], 10**400, 0, 100) is None


@settings(max_examples=200, deadline=None)
@given(markets(), st.data())
def test_buy_then_sell_all_returns_at_most_the_budget(market, data):
    q, b = market
    i = data.draw(st.integers(0, len(q) - 1))
    budget = data.draw(st.integers(min_value=1, max_value=b))
    try:
        buy = lmsr.quote_spend(q, b, i, budget)
    except (lmsr.InvalidTrade, lmsr.ProbabilityLimit):
        return
    after = list(q)
    after[i] += buy.shares
    try:
        sell = lmsr.quote_sell(after, b, i, buy.shares, buy.shares)
    except lmsr.ProbabilityLimit:
        return
    assert -sell.cost <= budget
    assert 0 < house_gap(after, b, i, sell) < 1 + Decimal("1e-25")


@settings(max_examples=200, deadline=None)
@given(markets(), st.data())
def test_to_probability_lands_within_a_thousandth(market, data):
    q, b = market
    i = data.draw(st.integers(0, len(q) - 1))
    target = data.draw(st.floats(min_value=0.01, max_value=0.99))
    p = lmsr.prices(q, b)[i]
    assume(abs(target - p) > 1e-3)
    try:
        quote = lmsr.quote_to_probability(q, b, i, target, held=10**15)
    except lmsr.ProbabilityLimit:
        return
    assert abs(quote.probabilities_after[i] - target) < 1e-3
    assert 0 < house_gap(q, b, i, quote) < 1 + Decimal("1e-25")


@settings(max_examples=100, deadline=None)
@given(markets(), st.data())
def test_to_probability_with_max_spend_stops_at_the_budget(market, data):
    q, b = market
    i = data.draw(st.integers(0, len(q) - 1))
    p = lmsr.prices(q, b)[i]
    target = min(0.99, p + 0.3)
    assume(target - p > 0.01)
    cap = data.draw(st.integers(min_value=1, max_value=b))
    try:
        quote = lmsr.quote_to_probability(q, b, i, target, held=0, max_spend=cap)
    except (lmsr.ProbabilityLimit, lmsr.InvalidTrade):
        return
    assert quote.cost <= cap
    if quote.capped:
        assert quote.cost == cap and quote.probabilities_after[i] < target


@settings(max_examples=150, deadline=None)
@given(st.data())
def test_market_maker_loss_never_exceeds_its_bound(data):
    n = data.draw(n_outcomes)
    b = data.draw(b_units)
    q0 = [0] * n
    q = list(q0)
    received = 0
    for _ in range(data.draw(st.integers(1, 25))):
        i = data.draw(st.integers(0, n - 1))
        try:
            if data.draw(st.booleans()) or q[i] == q0[i]:
                quote = lmsr.quote_spend(q, b, i, data.draw(st.integers(1, b)))
            else:
                quote = lmsr.quote_sell(
                    q, b, i, data.draw(st.integers(1, q[i] - q0[i])), q[i] - q0[i]
                )
        except (lmsr.ProbabilityLimit, lmsr.InvalidTrade):
            continue
        q[i] += quote.shares
        received += quote.cost
    with localcontext(prec=50):
        bound = Decimal(b) * Decimal(n).ln()
    assert abs(lmsr.max_loss(q0, b) - bound) < Decimal("1e-30") * b
    for k in range(n):
        loss = (q[k] - q0[k]) - received  # pays one unit per unit of winning share sold
        assert loss <= bound


def test_binary_spend_example():
    quote = lmsr.quote_spend([0, 0], 100 * UNIT, 0, 50 * UNIT)
    # b ln(1 + (e^0.5 - 1) / 0.5) = 83.1796... shares, rounded down
    assert quote.shares == 831_796
    assert quote.cost == 500_000
    assert quote.probabilities_before == (0.5, 0.5)
    assert round(quote.probabilities_after[0], 4) == 0.6967


def test_opening_at_chosen_probabilities():
    q = lmsr.initial_state(100 * UNIT, [0.2, 0.8], 2)
    assert [round(p, 6) for p in lmsr.prices(q, 100 * UNIT)] == [0.2, 0.8]


@pytest.mark.parametrize(
    "probs", [[0.5], [0.5, 0.6], [0.0, 1.0], [float("nan"), 0.5], [True, False], [0.2, "0.8"]]
)
def test_bad_opening_probabilities(probs):
    with pytest.raises(lmsr.InvalidTrade):
        lmsr.initial_state(100 * UNIT, probs, 2)


def test_probability_limit_refuses_a_huge_buy():
    with pytest.raises(lmsr.ProbabilityLimit):
        lmsr.quote_spend([0, 0], 100 * UNIT, 0, 10_000 * UNIT)


def test_selling_more_than_held():
    with pytest.raises(lmsr.NotEnoughShares):
        lmsr.quote_sell([10 * UNIT, 0], 100 * UNIT, 0, 11 * UNIT, 10 * UNIT)


def test_no_overflow_with_huge_state():
    q = [10**15, 10**15 + 5 * UNIT]
    ps = lmsr.prices(q, 100 * UNIT)
    assert math.isclose(sum(ps), 1)
    assert lmsr.cost(q, 100 * UNIT) > 10**15


@pytest.mark.parametrize(
    "value", [-1, 0, "0", float("nan"), float("inf"), "inf", "abc", None, True, [], 10**13, "1e400"]
)
def test_to_units_rejects(value):
    with pytest.raises(MoneyError):
        to_units(value)


def test_to_units_is_exact():
    assert to_units("0.1") == 1000
    assert to_units(0.1) == 1000
    assert to_units("12.34567") == 123456  # rounds down to the unit
