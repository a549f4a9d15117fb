"""Queries of a fixed shape, compiled once: the job detail's job and servers reads
(jobs/api/jobs.py), where Django's per-run SQL compiling cost more than the reads.

Tied to Django's query compiler (`get_compiler().as_sql()`, `results_iter`, `query.selected`):
pinned Django 5.2; tests/jobs/api/test_query_counts.py and the API tests cover every use."""

from __future__ import annotations

import weakref
from collections.abc import Callable

from django.db import DEFAULT_DB_ALIAS, connections
from django.db.models import QuerySet


class CompiledValues:
    """A `.values()` query of a fixed shape, compiled once per database connection and then
    run with new parameters.

    Django compiles a queryset on every run: 0.3-0.5 ms of Python, several times what an
    indexed read takes in the database. The job detail makes three such reads on every call,
    which alone made it twice the cost of a server detail. `build(*probes, *shape)` returns
    the queryset; it is compiled once per connection and `shape` (a LIMIT, which Django writes
    into the SQL), and each probe must appear exactly once among the SQL parameters, where
    `rows(params=...)` puts the real values. Rows go through the ORM's own converters."""

    def __init__(self, *, build: Callable[..., QuerySet], probes: tuple) -> None:
        self._build, self._probes = build, probes
        # Per connection: Django's connections are per thread, and the compiler is tied to one.
        self._compiled: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()

    def rows(self, *, params: tuple, shape: tuple = ()) -> list[dict]:
        conn = connections[DEFAULT_DB_ALIAS]
        by_shape = self._compiled.setdefault(conn, {})
        compiled = by_shape.get(shape) or by_shape.setdefault(shape, self._compile(shape))
        compiler, sql, slots, names = compiled
        with conn.cursor() as cursor:
            cursor.execute(sql, [params[s] if isinstance(s, int) else s[0] for s in slots])
            fetched = cursor.fetchall()
        return [dict(zip(names, row, strict=True)) for row in compiler.results_iter(results=[fetched])]

    def _compile(self, shape: tuple) -> tuple:
        query = self._build(*self._probes, *shape).query
        compiler = query.get_compiler(DEFAULT_DB_ALIAS)
        sql, constants = compiler.as_sql()
        # A slot is the index of a parameter of rows(), or a one-tuple holding a constant.
        slots = [self._probes.index(c) if c in self._probes else (c,) for c in constants]
        if sorted(s for s in slots if isinstance(s, int)) != list(range(len(self._probes))):
            raise ValueError(f"each probe must be one parameter of the query: {sql} {constants}")
        # The column names as Django's ValuesIterable reads them.
        names = list(query.selected or [*query.extra_select, *query.values_select, *query.annotation_select])
        return compiler, sql, slots, names
