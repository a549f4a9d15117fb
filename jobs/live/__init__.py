"""Pushing lines and statuses to live viewers (storing them is jobs/log/'s).

push.py owns the channel-layer group names and every send; consumers.py holds the websockets,
fanout.py the one shared feed per job per daphne process, flow.py the acks and send window,
recheck.py the rights every open socket re-checks.
"""
