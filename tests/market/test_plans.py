"""The largest buy, a stated probability on either side, the liquidity presets and typed
amounts: pure functions, no app."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from forecast.market import lmsr
from forecast.market.liquidity import (
    DEPTHS,
    MAX_LIQUIDITY,
    MIN_LIQUIDITY,
    default_liquidity,
    probability_after_spend,
)
from forecast.market.money import UNIT, MoneyError, fmt_exact, to_units, typed_amount
from forecast.market.plans import max_buy, plan_to_probability

B = 100 * UNIT


# ---------------------------------------------------------------- liquidity


def test_default_liquidity_is_the_starting_balance_over_ln_2():
    assert default_liquidity(500 * UNIT) == math.ceil(500 * UNIT / math.log(2))
    assert default_liquidity(1000 * UNIT) == 14_426_951  # 1442.6951 points


@pytest.mark.parametrize("balance", [1, 37 * UNIT, 500 * UNIT, 1000 * UNIT, 123_456 * UNIT])
def test_the_whole_starting_balance_moves_a_50_percent_question_to_at_most_75(balance):
    b = default_liquidity(balance)
    if b == MIN_LIQUIDITY:
        return  # a balance below a point: b stops at its floor
    quote = lmsr.quote_spend([0, 0], b, 0, balance)
    assert quote.probabilities_after[0] <= 0.75 + 1e-9
    assert quote.probabilities_after[0] == pytest.approx(0.75, abs=1e-6)
    assert probability_after_spend(b, balance) == pytest.approx(0.75, abs=1e-6)


def test_presets_are_multiples_thinner_moves_further():
    balance = 500 * UNIT
    moved = {
        name: probability_after_spend(default_liquidity(balance, name), balance) for name in DEPTHS
    }
    assert moved["thin"] == pytest.approx(0.875, abs=1e-6)
    assert moved["normal"] == pytest.approx(0.75, abs=1e-6)
    assert moved["deep"] == pytest.approx(1 - 1 / (2 * math.sqrt(2)), abs=1e-6)
    assert abs(default_liquidity(balance, "deep") - 2 * default_liquidity(balance)) <= 1


def test_liquidity_stays_in_range():
    assert default_liquidity(1) == MIN_LIQUIDITY
    assert default_liquidity(10**9 * UNIT, "deep") <= MAX_LIQUIDITY
    with pytest.raises(KeyError):
        default_liquidity(UNIT, "bottomless")


# ---------------------------------------------------------------- max buy


def test_max_buy_is_the_balance_when_the_limit_is_far():
    assert max_buy([0, 0], B, 0, 50 * UNIT) == 50 * UNIT
    assert max_buy([0, 0], B, 0, 0) == 0
    assert max_buy([0, 0], B, 0, -5 * UNIT) == 0


def test_max_buy_stops_at_the_probability_limit():
    spend = max_buy([0, 0], B, 0, 10**6 * UNIT)
    quote = lmsr.quote_spend([0, 0], B, 0, spend)
    assert quote.probabilities_after[0] <= lmsr.P_MAX
    with pytest.raises(lmsr.ProbabilityLimit):
        lmsr.quote_spend([0, 0], B, 0, spend + UNIT // 100)  # a hundredth of a point more
    # b ln((1 - p) / (1 - t)) from 50% to 99.9%: b ln 500
    assert spend == pytest.approx(B * math.log(500), abs=2)


def test_max_buy_on_multiple_choice_stops_when_another_outcome_hits_the_floor():
    q = lmsr.initial_state(B, [0.05, 0.9, 0.05], 3)
    spend = max_buy(q, B, 1, 10**6 * UNIT)
    after = lmsr.quote_spend(q, B, 1, spend).probabilities_after
    assert min(after) >= lmsr.P_MIN
    assert min(after) == pytest.approx(lmsr.P_MIN, abs=1e-6)


def test_max_buy_at_the_limit_is_zero():
    q = lmsr.initial_state(B, [0.999, 0.001], 2)
    assert max_buy(q, B, 0, 10**6 * UNIT) == 0


@settings(max_examples=60, deadline=None)
@given(
    probs=st.lists(st.floats(0.01, 1.0), min_size=2, max_size=6),
    b_points=st.integers(1, 5000),
    balance_points=st.integers(1, 100_000),
    which=st.integers(0, 5),
)
def test_max_buy_is_always_accepted_and_never_exceeds_the_balance(
    probs, b_points, balance_points, which
):
    total = math.fsum(probs)
    ps = [p / total for p in probs]
    if min(ps) < 0.002 or max(ps) > 0.998:
        return
    ps[-1] = 1 - math.fsum(ps[:-1])
    b = b_points * UNIT
    q = lmsr.initial_state(b, ps, len(ps))
    i = which % len(ps)
    balance = balance_points * UNIT
    spend = max_buy(q, b, i, balance)
    assert 0 <= spend <= balance
    if spend:
        lmsr.quote_spend(q, b, i, spend)  # accepted: no ProbabilityLimit
    if spend < balance and spend > 1000:
        with pytest.raises(lmsr.ProbabilityLimit):
            lmsr.quote_spend(q, b, i, spend + max(spend // 1000, 100))


# ---------------------------------------------------------------- my probability


LABELS2 = ["YES", "NO"]
LABELS3 = ["Amazon", "Microsoft", "Oracle"]


def test_above_the_market_buys_the_outcome_up_to_it():
    plan = plan_to_probability([0, 0], B, 0, 0.7, [0, 0], LABELS2)
    assert (plan.outcome, plan.to_probability, plan.reaches) == (0, 0.7, True)
    assert "Buys YES" in plan.note


def test_binary_below_the_market_buys_the_other_outcome():
    plan = plan_to_probability([0, 0], B, 0, 0.3, [0, 0], LABELS2)
    assert plan.outcome == 1 and plan.to_probability == pytest.approx(0.7)
    assert plan.reaches and plan.note.startswith("Buys NO")
    quote = lmsr.quote_to_probability([0, 0], B, plan.outcome, plan.to_probability, 0)
    assert quote.probabilities_after[0] == pytest.approx(0.3, abs=1e-3)
    assert quote.shares > 0 and quote.cost > 0


def test_multiple_choice_below_the_market_sells_what_is_held():
    q = [0, 0, 0]
    held = [100 * UNIT, 0, 0]
    plan = plan_to_probability(q, B, 0, 0.3, held, LABELS3)
    assert (plan.outcome, plan.to_probability, plan.sell, plan.reaches) == (0, 0.3, None, True)
    assert plan.note.startswith("Sells Amazon")


def test_multiple_choice_below_the_market_with_too_few_shares_sells_them_all_and_says_more():
    plan = plan_to_probability([0, 0, 0], B, 0, 0.05, [5 * UNIT + 3, 0, 0], LABELS3)
    assert plan.sell == 5 * UNIT + 3 and plan.to_probability is None and not plan.reaches
    assert "Sells all your shares of Amazon" in plan.note
    assert "buy the outcomes you think more likely" in plan.note


def test_multiple_choice_below_the_market_with_nothing_held_trades_nothing():
    plan = plan_to_probability([0, 0, 0], B, 0, 0.1, [0, 0, 0], LABELS3)
    assert not plan.trades
    assert "You hold no shares of Amazon" in plan.note


def test_a_probability_at_the_market_or_out_of_range_is_refused():
    with pytest.raises(lmsr.InvalidTrade):
        plan_to_probability([0, 0], B, 0, 0.5, [0, 0], LABELS2)
    with pytest.raises(lmsr.ProbabilityLimit):
        plan_to_probability([0, 0], B, 0, 0.0001, [0, 0], LABELS2)
    with pytest.raises(lmsr.InvalidTrade):
        plan_to_probability([0, 0], B, 0, 1.5, [0, 0], LABELS2)


# ---------------------------------------------------------------- amounts


@pytest.mark.parametrize(
    ("typed", "units"),
    [
        ("1,000", 1000 * UNIT),
        (" 1,000 ", 1000 * UNIT),
        ("12,345.5", 123_455_000),
        ("  7 ", 7 * UNIT),
    ],
)
def test_typed_amounts_take_thousands_separators_and_spaces(typed, units):
    assert to_units(typed_amount(typed)) == units


@pytest.mark.parametrize("typed", ["1,00", "1,2345", "12,34.5", "1.000,5", ",100"])
def test_commas_that_do_not_group_thousands_are_refused(typed):
    with pytest.raises(MoneyError):
        to_units(typed_amount(typed))


def test_exact_amounts_show_every_unit_the_check_used():
    assert fmt_exact(1_672_376) == "167.2376"
    assert fmt_exact(400_000) == "40.00"
    assert fmt_exact(1_672_370) == "167.237"
    assert fmt_exact(-6_736_100) == "-673.61"
    assert fmt_exact(12_345_678_901) == "1,234,567.8901"


def test_the_sell_refusal_shows_the_holding_to_the_unit():
    with pytest.raises(lmsr.NotEnoughShares) as e:
        lmsr.quote_sell([0, 0], B, 0, 1_672_400, 1_672_376)
    assert str(e.value) == "You hold 167.2376 shares of this outcome; you cannot sell 167.24."
