"""Sends identify, group, track and page calls through Segment's official Python
library (segment-analytics-python) to a laer server. Usage: send.py HOST WRITE_KEY"""
import sys

import segment.analytics as analytics

analytics.host = sys.argv[1]
analytics.write_key = sys.argv[2]
analytics.sync_mode = True
failures = []
analytics.on_error = lambda error, items: failures.append(str(error))

analytics.identify("py-user-1", {"email": "kim@acme.example", "name": "Kim Py", "department": "finance"})
analytics.group("py-user-1", "py-acme", {"name": "Acme (Python)", "industry": "retail"})
for i in range(3):
    analytics.track("py-user-1", "Report Viewed", {"value": i + 1})
analytics.page("py-user-1", "Docs", "Pricing")
analytics.track(anonymous_id="py-visitor", event="Signup Started", context={"groupId": "py-acme"})
analytics.flush()
if failures:
    sys.exit("failed: " + "; ".join(failures))
