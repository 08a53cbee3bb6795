from __future__ import annotations

from shopstream.clients.connect import Applied, diff


def test_diff() -> None:
    assert diff({"a": "1", "b": "2"}, {"a": "1", "b": "2"}) == {}
    assert diff({"a": "1", "b": "3"}, {"a": "1", "b": "2", "c": "x"}) == {"b": ("2", "3"), "c": ("x", None)}
    assert diff({"a": "1"}, None) == {"a": (None, "1")}


def test_applied_says_what_changed() -> None:
    assert Applied(created=True, changes={"a": (None, "1")}, tasks=1).verb == "created"
    assert (
        Applied(created=False, changes={"a": ("0", "1"), "b": (None, "2")}, tasks=3).verb
        == "updated (2 keys)"
    )
    assert Applied(created=False, changes={"a": ("0", "1")}, tasks=3).verb == "updated (1 key)"
    assert Applied(created=False, changes={}, tasks=3).verb == "unchanged"
