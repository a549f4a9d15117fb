"""The house's rule, checked on every run: no circle among LivChat's modules, and no import from a
room on a lower floor to one above it (scripts/import_graph.py; DESIGN.md's map)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "import_graph.py"


def graph_module():
    spec = importlib.util.spec_from_file_location("import_graph", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_no_circle_and_no_upward_import():
    circles, upward, local = graph_module().scan()
    assert circles == [], circles
    assert upward == [], upward
    # Only AppConfig.ready() imports inside a function (Django's own rule for app loading).
    assert {name for name, _ in local} <= {"accounts.apps", "servers.apps", "automation.apps"}, local


def test_the_scan_finds_a_circle_and_its_members():
    cycles = graph_module().cycles
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_floors_follow_the_map():
    floor = graph_module().floor
    assert floor("core.api_errors") < floor("accounts.services") < floor("servers.permissions")
    assert floor("servers.models") < floor("jobs.live.push") < floor("automation.launch") < floor("web.urls")
