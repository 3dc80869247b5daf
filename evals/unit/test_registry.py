"""The one registry type behind worlds, methods, metrics and claim sets, and its entry points."""

from importlib import metadata

import pytest

from amx import methods
from amx.claims import CLAIM_SETS
from amx.data.worlds import WORLDS
from amx.metrics import METRICS
from amx.presets import PRESETS
from amx.registry import Registry, RegistryError, UnknownNameError


def test_every_kind_is_a_registry_with_amx_own_entries():
    assert WORLDS.names() == ["imagenet", "mini", "photos"]
    assert WORLDS.source("mini").startswith("entry point 'mini'")
    assert len(methods.METHODS) == 20 and "gradcam" in methods.METHODS and "big" in methods.METHODS
    assert METRICS.names() == ["deletion", "energy_pointing_game", "insertion", "max_box_acc_v2",
                               "pointing_game", "pxap", "road", "wsl", "wsl_alpha"]
    assert CLAIM_SETS.names() == ["001", "002", "003", "004"] and CLAIM_SETS.get("004").prefix == "A"
    assert PRESETS.names() == ["mini", "paper", "photos", "sam", "smoke"]
    assert PRESETS.source("photos").startswith("entry point 'photos'")


@pytest.mark.parametrize("registry, name, message", [
    (WORLDS, "imagenett", "unknown world 'imagenett'. Did you mean 'imagenet'? Valid worlds: imagenet, "),
    (methods.METHODS, "gradcm", "unknown method 'gradcm'. Did you mean 'gradcam'? Valid methods: agi, big"),
    (METRICS, "insertoin", "unknown metric 'insertoin'. Did you mean 'insertion'? Valid metrics: deletion"),
    (CLAIM_SETS, "005", "unknown claim set '005'. Did you mean '004'? Valid claim sets: 001, 002, 003, 004"),
])
def test_an_unknown_name_lists_the_valid_ones(registry, name, message):
    with pytest.raises(UnknownNameError) as err:
        registry.get(name)
    assert str(err.value).startswith(message)


def test_a_duplicate_name_names_both_sources():
    colours = Registry("colour")
    colours.register("red", 1, source="package a")
    with pytest.raises(RegistryError, match="colour 'red' is registered twice: by package a and by package"):
        colours.register("red", 2, source="package b")
    with pytest.raises(RegistryError, match=r"method 'gradient' is registered twice: by amx.methods.gradient "
                                            r"and by .*test_registry"):
        methods.METHODS.register("gradient", methods.METHODS.get("gradient"))


def _entry_points(*points):
    def entry_points(group):
        return [p for p in points if p.group == group]
    return entry_points


def test_entry_points_are_loaded_once_and_a_broken_one_is_named(monkeypatch):
    good = metadata.EntryPoint(name="pi", value="math:pi", group="amx.test")
    broken = metadata.EntryPoint(name="broken", value="no_such_module_xyz:THING", group="amx.test")
    calls = []

    def counting(group):
        calls.append(group)
        return _entry_points(good, broken)(group)

    monkeypatch.setattr(metadata, "entry_points", counting)
    things = Registry("thing", "amx.test")
    for _ in range(2):  # raised on every look-up, but loaded once
        with pytest.raises(RegistryError, match="entry point 'broken' = 'no_such_module_xyz:THING' "
                                                "\\(group amx.test\\) failed to load: ModuleNotFoundError"):
            things.get("pi")
    assert calls == ["amx.test"]
    assert dict(things.registered())["pi"] == pytest.approx(3.14159, abs=1e-5)  # the good one was registered


def test_a_registered_object_must_be_of_its_kind_and_name():
    with pytest.raises(TypeError, match="method 'x': expected amx.methods.base.AttributionMethod, got"):
        methods.METHODS.register("x", object)
    with pytest.raises(ValueError, match="metric registered as 'pg' is named 'pointing_game'"):
        METRICS.register("pg", METRICS.get("pointing_game"))


def test_claim_set_prefixes_are_unique():
    from dataclasses import replace

    with pytest.raises(ValueError, match="claim set 'copy': prefix 'P' is already that of claim set '001'"):
        CLAIM_SETS.register("copy", replace(CLAIM_SETS.get("001"), name="copy"))
