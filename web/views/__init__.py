"""Every page's view, one module per area: dashboard, jobs (list, rows, the live job page,
re-run, "Run on…"), playbooks, servers (list, server page, add/edit/re-pin), templates,
tokens; shared.py holds the reads several pages share. web/urls.py maps them to URLs.

Each page checks servers.permissions (the one rule): lists show only the servers a user may
use and the jobs they may see, forms only what they may run. Views stay thin: reading is a few
queries, starting or changing anything is the domain apps' services."""
