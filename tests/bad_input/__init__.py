"""The bad-input and fault table (issue 5): one row per case, grouped by surface.

Each module holds the table of one surface; every row names the input, the status or exit
code it must get and a readable fragment of the answer, and every test also checks that no
traceback leaked and nothing was lost or changed:

    test_table_api.py        JSON API (token, session, anonymous, no role)
    test_table_cli.py        management commands, in-process and as real manage.py processes
    test_table_websocket.py  /ws/jobs/... through the real ASGI app
    test_table_admin.py      admin forms and actions, the server and job pages
    test_table_output.py     awkward output of real jobs on the test sshd
    test_table_faults.py     SSH faults: refused, unreachable, wrong credentials, changed key, drop

Shared row type and checks: helpers.py; the world the rows run against: conftest.py.
"""
