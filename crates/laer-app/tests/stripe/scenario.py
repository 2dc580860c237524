"""A Stripe account's subscriptions made with Stripe's official Python library against
localstripe (issue 17) — one item per subscription and no coupons, as far as localstripe
goes (laer's core tests cover the rest with objects shaped as Stripe returns them) — and the MRR each should have now by the rules of docs/metrics.md
("MRR from Stripe"), computed here independently of laer. Prints one JSON object:
{"customers": N, "subscriptions": {id: "MRR in dollars, four decimals"}}.

Usage: python scenario.py API_BASE BULK
       python scenario.py API_BASE quantity SUBSCRIPTION QUANTITY   (changes one; prints it)
       python scenario.py API_BASE uncancel SUBSCRIPTION   (takes back a cancellation at period end)
       python scenario.py API_BASE euro NAME AMOUNT   (a customer billed in euros; prints its subscription)
"""

import json
import sys
from decimal import Decimal

import stripe

stripe.api_key = "sk_test_laer_scenario"
stripe.api_base = sys.argv[1]
if sys.argv[2] == "quantity":
    s = stripe.Subscription.retrieve(sys.argv[3])
    s = stripe.Subscription.modify(s.id, items=[{"id": s["items"]["data"][0]["id"], "quantity": int(sys.argv[4])}])
    print(json.dumps({"id": s.id, "quantity": s["items"]["data"][0]["quantity"]}))
    sys.exit(0)
if sys.argv[2] == "uncancel":
    # Reactivated: a cancellation at period end taken back.
    s = stripe.Subscription.modify(sys.argv[3], cancel_at_period_end=False)
    print(json.dumps({"id": s.id, "cancel_at_period_end": s["cancel_at_period_end"]}))
    sys.exit(0)
if sys.argv[2] == "euro":
    # A customer billed in euros: one monthly subscription of AMOUNT cents.
    name, amount = sys.argv[3], int(sys.argv[4])
    product = stripe.Product.create(name="Suite EU")
    plan = stripe.Plan.create(id="suite-eur", product=product.id, currency="eur", amount=amount, interval="month")
    c = stripe.Customer.create(name=name, email=f"billing@{name}.example", metadata={"laer_account": name})
    pm = stripe.PaymentMethod.create(type="card", card={"number": "4242424242424242", "exp_month": 12, "exp_year": 2040, "cvc": "123"})
    stripe.PaymentMethod.attach(pm.id, customer=c.id)
    stripe.Customer.modify(c.id, invoice_settings={"default_payment_method": pm.id})
    s = stripe.Subscription.create(customer=c.id, items=[{"plan": plan.id, "quantity": 1}])
    print(json.dumps({"id": s.id}))
    sys.exit(0)
bulk = int(sys.argv[2])

MONTHS = {"day": Decimal(12) / Decimal(365), "week": Decimal(12) / Decimal(52), "month": Decimal(1), "year": Decimal(12)}


def months(plan):
    return MONTHS[plan["interval"]] * plan["interval_count"]


suite = stripe.Product.create(name="Suite")
addon = stripe.Product.create(name="Add-on")
plans = {
    "monthly": stripe.Plan.create(id="suite-monthly", product=suite.id, currency="usd", amount=10000, interval="month"),
    "yearly": stripe.Plan.create(id="suite-yearly", product=suite.id, currency="usd", amount=120000, interval="year"),
    "quarterly": stripe.Plan.create(id="suite-quarterly", product=suite.id, currency="usd", amount=27000, interval="month", interval_count=3),
    "weekly": stripe.Plan.create(id="suite-weekly", product=suite.id, currency="usd", amount=2500, interval="week"),
    "daily": stripe.Plan.create(id="suite-daily", product=suite.id, currency="usd", amount=300, interval="day"),
    "addon": stripe.Plan.create(id="addon-monthly", product=addon.id, currency="usd", amount=1999, interval="month"),
}


def customer(name):
    c = stripe.Customer.create(name=name, email=f"billing@{name}.example", metadata={"laer_account": name})
    pm = stripe.PaymentMethod.create(type="card", card={"number": "4242424242424242", "exp_month": 12, "exp_year": 2040, "cvc": "123"})
    stripe.PaymentMethod.attach(pm.id, customer=c.id)
    stripe.Customer.modify(c.id, invoice_settings={"default_payment_method": pm.id})
    return c


def subscribe(c, items, **extra):
    return stripe.Subscription.create(customer=c.id, items=[{"plan": plans[p].id, "quantity": q} for p, q in items], **extra)


subs = {}
customers = 0

# Quantities, and every interval.
for name, items in [
    ("acme", [("monthly", 3)]),
    ("birch", [("addon", 2)]),
    ("cedar", [("quarterly", 1)]),
    ("delta", [("weekly", 1)]),
    ("elm", [("daily", 2)]),
]:
    subs[name] = subscribe(customer(name), items)
    customers += 1

# A trial: no MRR while it lasts.
subs["fir"] = subscribe(customer("fir"), [("monthly", 1)], trial_period_days=14)
customers += 1

# An upgrade of quantity, and a downgrade to a cheaper plan.
s = subscribe(customer("grove"), [("weekly", 1)])
subs["grove"] = stripe.Subscription.modify(s.id, items=[{"id": s["items"]["data"][0]["id"], "quantity": 4}])
s = subscribe(customer("hazel"), [("yearly", 1)])
subs["hazel"] = stripe.Subscription.modify(s.id, items=[{"id": s["items"]["data"][0]["id"], "plan": plans["monthly"].id}])
customers += 2

# Canceled at the end of the period: still MRR now. Canceled now: none.
s = subscribe(customer("ivy"), [("monthly", 2)])
subs["ivy"] = stripe.Subscription.modify(s.id, cancel_at_period_end=True)
s = subscribe(customer("juniper"), [("monthly", 5)])
subs["juniper"] = stripe.Subscription.delete(s.id)
customers += 2

# Many more, for paging.
for n in range(bulk):
    subs[f"bulk{n}"] = subscribe(customer(f"bulk{n}"), [("monthly", 1 + n % 7)])
    customers += 1


def expected(s):
    if s["status"] in ("trialing", "canceled", "incomplete", "incomplete_expired", "unpaid"):
        return Decimal(0)
    total = Decimal(0)
    for item in s["items"]["data"]:
        plan = item["plan"]
        total += Decimal(plan["amount"]) * item["quantity"] / months(plan)
    return total / 100


print(json.dumps({
    "customers": customers,
    "subscriptions": {s["id"]: str(expected(s).quantize(Decimal("0.0001"))) for s in subs.values()},
    "by_name": {name: s["id"] for name, s in subs.items()},
}))
