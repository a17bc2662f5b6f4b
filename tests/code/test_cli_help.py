"""`stance --help` and every subcommand's: no typer type names, every declared default shown,
and `--version` prints the package version."""

import importlib.metadata
import re

import pytest
import typer
from typer.testing import CliRunner

from pipeline.cli import app

TYPE_NAME = re.compile(r"<[a-z_\[\], ]+>")  # typer's `<str>`, `<path>`, `<list[str]>`, `<int range>`


def commands(command, path: tuple[str, ...] = ()):
    """(path, command) of `stance` and of every subcommand, nested groups included."""
    yield path, command
    for name, sub in getattr(command, "commands", {}).items():
        yield from commands(sub, (*path, name))


COMMANDS = list(commands(typer.main.get_command(app)))


def help_of(path: tuple[str, ...]) -> tuple[str, str]:
    """(usage line, whole help with whitespace normalized, so wrapping cannot split a default)."""
    result = CliRunner().invoke(app, [*path, "--help"], terminal_width=200)
    assert result.exit_code == 0, result.output
    return result.output.splitlines()[0], " ".join(result.output.split())


def test_every_command_is_walked():
    names = {" ".join(path) for path, _ in COMMANDS}
    assert {"", "score", "eval-set", "export", "segment", "review", "review export", "review import"} <= names


@pytest.mark.parametrize("path,command", COMMANDS, ids=[" ".join(p) or "stance" for p, _ in COMMANDS])
def test_help_has_no_type_names_and_shows_every_default(path, command):
    usage, text = help_of(path)
    assert not TYPE_NAME.findall(text), TYPE_NAME.findall(text)
    assert "{" not in usage, usage  # `INPUT...`, not typer's `{INPUT}...`
    for param in command.params:
        if param.hidden or param.name == "help":
            continue
        declared = " ".join((param.help or "").split())
        if "[default:" in declared:  # a default the help text states (the value is worked out later)
            assert declared in text, (param.name, declared)
        elif param.param_type_name == "option" and not param.is_flag and param.default is not None:
            assert f"[default: {param.default}" in text, (param.name, param.default)


def test_declared_defaults_are_checked():
    """The walk above sees typer's parameters (typer has its own click): both kinds of default."""
    score = dict(COMMANDS)[("score",)]
    options = {p.name: p for p in score.params if p.param_type_name == "option"}
    assert options["engine"].default == "local" and not options["engine"].is_flag
    assert "[default: 32 on CPU, 256 on GPU]" in options["batch_size"].help


def test_score_usage_and_argument_read_naturally():
    usage, text = help_of(("score",))
    assert usage.endswith(" score [OPTIONS] INPUT..."), usage
    assert "Arguments: INPUT... files, folders (recursive), globs, or - for standard input [required]" in text
    assert "[default: OUTPUT with .articles before the suffix]" in text
    assert "sentences per model call [default: 32 on CPU, 256 on GPU]" in text


def test_version_prints_the_package_version():
    result = CliRunner().invoke(app, ["--version"])
    assert result.exit_code == 0
    assert result.output == f"stance {importlib.metadata.version('stance')}\n"
