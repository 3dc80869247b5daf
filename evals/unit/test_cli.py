"""The ``amx`` command line: zoo listing and the errors a user sees for bad names."""

from amx.cli import main
from amx.zoo import registry


def test_zoo_list_prints_all_twelve_models(capsys):
    assert main(["zoo", "list"]) == 0
    out = capsys.readouterr().out
    for name in registry.specs("mini"):
        assert name in out


def test_zoo_eval_unknown_model_exits_2_and_lists_valid_names(capsys):
    assert main(["zoo", "eval", "--model", "resnet-mni"]) == 2
    err = capsys.readouterr().err
    assert "unknown model 'resnet-mni'" in err and "Did you mean 'resnet-mini'" in err


def test_unknown_world_exits_2_and_lists_valid_worlds(capsys):
    assert main(["zoo", "list", "--world", "imagenet-tiny"]) == 2
    assert "Valid worlds: mini" in capsys.readouterr().err
