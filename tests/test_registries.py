"""The name registry behind every extension point: lookup, listing, decorator and call
registration, duplicates refused (naming both objects), unknown names listing the known ones."""

from __future__ import annotations

import pytest

import phenocast
from phenocast.registries import NameRegistry


class A: ...


class Other: ...


def _registry() -> NameRegistry[type]:
    reg: NameRegistry[type] = NameRegistry("widget", name_attr="name")

    @reg.register("b")
    class B: ...

    reg.register("a", A)
    return reg


def test_registers_by_decorator_or_call_and_reads_like_a_dict():
    reg = _registry()
    assert list(reg) == ["b", "a"] and reg.names() == ["a", "b"] and len(reg) == 2
    assert "a" in reg and "c" not in reg and reg["a"] is A and reg.get("c") is None
    assert reg["b"].__name__ == "B" and reg["b"].name == "b"  # name_attr sets the name
    assert dict(reg.items())["a"] is A and "widget" in repr(reg)
    assert phenocast.registries.NameRegistry is NameRegistry  # listed in the lazy namespace


def test_duplicate_name_is_refused_naming_both_objects():
    reg = _registry()
    with pytest.raises(ValueError, match=r"'a' is already a registered widget \(") as err:
        reg.register("a", Other)
    assert f"{__name__}.A)" in str(err.value) and f"{__name__}.Other." in str(err.value)
    with pytest.raises(ValueError, match="already a registered widget"):
        reg["a"] = Other  # item assignment registers, with the same rule
    assert reg["a"] is A and A.name == "a"


def test_registering_the_same_object_again_is_a_no_op():
    reg = _registry()
    assert reg.register("a", A) is A and reg.register("b")(reg["b"]) is reg["b"]
    assert list(reg) == ["b", "a"]


def test_unknown_name_lists_the_known_ones():
    reg = _registry()
    with pytest.raises(KeyError, match=r"Unknown widget 'c'; choose one of \['a', 'b'\]\."):
        reg["c"]
    with pytest.raises(KeyError, match="Unknown widget 'c'"):
        del reg["c"]
    del reg["a"]
    assert reg.names() == ["b"]
    reg.register("a", Other)  # a removed name is free again
    assert reg["a"] is Other and Other.name == "a"
