"""Guardrails: an ordered list of policies (jobs.models.Policy) says, for each job asked for,
whether it runs (`allow`), is refused (`deny`) or waits for people (`approve`).

    rules.py  the decision: the first matching rule per target server, the strictest over targets
    edit.py   the checks a rule must pass, and creating, changing, moving and deleting rules

jobs/services/base.create_job asks rules.decide for every job (every surface creates jobs
there); jobs/services/approval.py holds what happens to a job that waits.
"""
