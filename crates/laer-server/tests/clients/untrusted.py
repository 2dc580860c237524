"""Sends what an untrusted page could through Segment's official Python library
(segment-analytics-python): a group call renaming an account that came from the CRM, a
track call, and a track call in year 9999, which laer refuses. Prints each refusal as
"refused: STATUS MESSAGE". Usage: untrusted.py HOST WRITE_KEY"""
import datetime
import sys

import segment.analytics as analytics
from segment.analytics.request import APIError

analytics.host = sys.argv[1]
analytics.write_key = sys.argv[2]
analytics.sync_mode = True


def send(call, *args, **kwargs):
    try:
        call(*args, **kwargs)
    except APIError as error:
        print("refused:", error.status, error.message)


send(analytics.group, "py-user", "py-crm", {"name": "Pwned", "plan": "free", "industry": "retail"})
send(analytics.track, "py-user", "Report Viewed")
future = datetime.datetime(9999, 1, 1, tzinfo=datetime.timezone.utc)
send(analytics.track, "py-user", "From The Future", timestamp=future)
analytics.flush()
