"""The avs command dispatcher."""
import pytest

from avs_ros.cli import COMMANDS, main


def test_help_lists_every_command(capsys):
    assert main(["--help"]) == 0
    out = capsys.readouterr().out
    for verb in COMMANDS:
        assert verb in out


def test_no_command_is_a_usage_error(capsys):
    assert main([]) == 2


def test_unknown_command_suggests_the_closest(capsys):
    assert main(["sumary"]) == 2
    assert "did you mean 'summary'" in capsys.readouterr().err


def test_command_modules_expose_the_interface():
    import importlib

    for module, _ in COMMANDS.values():
        mod = importlib.import_module(module)
        assert callable(mod.add_arguments) and callable(mod.run)


def test_bad_option_exits_with_argparse_error():
    with pytest.raises(SystemExit) as exc:
        main(["summary", "--preset", "no_such_preset"])
    assert exc.value.code == 2
