"""The pages' forms, one module per area: jobs (run a command, filter the list, run on many),
playbooks, servers (add/edit, re-pin), templates (launch, schedule) and template_edit, tokens.

They read posted text and word the messages; every rule is the domain apps' (services,
validators, catalog), so a page agrees with the API, the admin and the commands."""
