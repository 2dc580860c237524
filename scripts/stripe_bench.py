"""Stripe benchmark helper (scripts/stripe-bench.sh): fills localstripe with Stripe's
official library, and times Stripe events delivered to laer's webhook, signed as that
library signs them. Prints one JSON object.

Usage: python stripe_bench.py API_BASE fill N
       python stripe_bench.py API_BASE events LAER_URL SECRET N
"""

import json
import statistics
import sys
import time
import urllib.request

import stripe

stripe.api_key = "sk_test_laer_bench"
stripe.api_base = sys.argv[1]
command = sys.argv[2]

if command == "fill":
    n = int(sys.argv[3])
    started = time.monotonic()
    product = stripe.Product.create(name="Suite")
    try:
        stripe.Plan.retrieve("bench-monthly")
    except stripe.error.InvalidRequestError:
        stripe.Plan.create(id="bench-monthly", product=product.id, currency="usd", amount=10000, interval="month")
    for i in range(n):
        c = stripe.Customer.create(name=f"Bench {i}", email=f"billing@bench{i}.example", metadata={"laer_account": f"bench-{i}"})
        pm = stripe.PaymentMethod.create(type="card", card={"number": "4242424242424242", "exp_month": 12, "exp_year": 2040, "cvc": "123"})
        stripe.PaymentMethod.attach(pm.id, customer=c.id)
        stripe.Customer.modify(c.id, invoice_settings={"default_payment_method": pm.id})
        stripe.Subscription.create(customer=c.id, items=[{"plan": "bench-monthly", "quantity": 1 + i % 5}])
    print(json.dumps({"customers": n, "seconds": round(time.monotonic() - started, 2)}))
elif command == "events":
    url, secret, n = sys.argv[3], sys.argv[4], int(sys.argv[5])
    listed = urllib.request.Request(f"{sys.argv[1]}/v1/subscriptions?limit=1", headers={"Authorization": f"Bearer {stripe.api_key}"})
    with urllib.request.urlopen(listed) as response:
        subscription = json.load(response)["data"][0]
    delays = []
    created = int(time.time())
    for i in range(n):
        subscription["items"]["data"][0]["quantity"] = 1 + i % 9
        payload = json.dumps({"id": f"evt_bench_{created}_{i}", "object": "event", "type": "customer.subscription.updated",
                              "created": created + i, "data": {"object": subscription}})
        header = stripe.WebhookSignature.generate_signature_header(payload, secret)
        request = urllib.request.Request(url, data=payload.encode(), method="POST",
                                         headers={"Content-Type": "application/json", "Stripe-Signature": header})
        started = time.monotonic()
        with urllib.request.urlopen(request) as response:
            outcome = json.load(response)["outcome"]
        delays.append((time.monotonic() - started) * 1000)
        assert outcome == "applied", outcome
    delays.sort()
    print(json.dumps({"events": n, "median_ms": round(statistics.median(delays), 1),
                      "p95_ms": round(delays[int(len(delays) * 0.95) - 1], 1), "max_ms": round(delays[-1], 1)}))
else:
    sys.exit(f"unknown command {command}")
