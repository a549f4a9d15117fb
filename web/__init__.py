"""Every HTML page of LivChat: views, forms and urls (the top floor, like healthchecks' hc/front).

web/ imports the domain apps (accounts, servers, jobs, automation) and nothing imports web/:
what an admin page and a web page both use stays in its domain app (jobs.viewer, servers.forms).
"""
