"""Stripe, live (issue 17): drives localstripe with Stripe's official Python library, and
signs webhook payloads as that library does (WebhookSignature.generate_signature_header).
Prints one JSON object.

Usage: python live.py API_BASE setup LAER_WEBHOOK_URL SECRET ACCOUNT
           registers laer's endpoint with localstripe (which then sends it its events,
           signed), and makes a product, a $100 monthly plan and a customer whose
           metadata laer_account is ACCOUNT -> {"customer": ID}
       python live.py API_BASE subscribe CUSTOMER QUANTITY -> {"subscription": ID}
       python live.py API_BASE cancel SUBSCRIPTION -> {"status": ...}
       python live.py API_BASE sign SECRET TIMESTAMP PAYLOAD_FILE -> {"header": ...}
"""

import json
import sys
import urllib.parse
import urllib.request

import stripe

stripe.api_key = "sk_test_laer_live"
stripe.api_base = sys.argv[1]
command = sys.argv[2]

if command == "setup":
    url, secret, account = sys.argv[3:6]
    body = urllib.parse.urlencode({"url": url, "secret": secret}).encode()
    urllib.request.urlopen(urllib.request.Request(f"{sys.argv[1]}/_config/webhooks/laer", data=body, method="POST"))
    product = stripe.Product.create(name="Suite")
    stripe.Plan.create(id="suite-monthly", product=product.id, currency="usd", amount=10000, interval="month")
    c = stripe.Customer.create(name="Live customer", email="billing@live.example", metadata={"laer_account": account})
    pm = stripe.PaymentMethod.create(type="card", card={"number": "4242424242424242", "exp_month": 12, "exp_year": 2040, "cvc": "123"})
    stripe.PaymentMethod.attach(pm.id, customer=c.id)
    stripe.Customer.modify(c.id, invoice_settings={"default_payment_method": pm.id})
    print(json.dumps({"customer": c.id}))
elif command == "subscribe":
    s = stripe.Subscription.create(customer=sys.argv[3], items=[{"plan": "suite-monthly", "quantity": int(sys.argv[4])}])
    print(json.dumps({"subscription": s.id}))
elif command == "cancel":
    s = stripe.Subscription.delete(sys.argv[3])
    print(json.dumps({"status": s.status}))
elif command == "sign":
    secret, timestamp, path = sys.argv[3], int(sys.argv[4]), sys.argv[5]
    with open(path, encoding="utf-8") as f:
        payload = f.read()
    print(json.dumps({"header": stripe.WebhookSignature.generate_signature_header(payload, secret, timestamp)}))
else:
    sys.exit(f"unknown command {command}")
