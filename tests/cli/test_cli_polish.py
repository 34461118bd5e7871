"""The command line as a finished tool: --version, help without noise and with an example, a fast `models list`,
output that survives a pipe, and words that fit the task."""

from __future__ import annotations

import doctest
import json
import re
import shlex
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import typer.main
from typer.testing import CliRunner

import loopline
from loopline.cli import _console, _help, _show, app
from loopline.data import SplitSummary
from loopline.registry import ModelVersion, Registry
from loopline.workspace import Workspace
from tests.registry.conftest import make_artifact, register

runner = CliRunner()
HELP_ENV = {"COLUMNS": "80"}
ANSI = re.compile(r"\x1b\[[0-9;]*m")
HEAVY = ("lightgbm", "sklearn", "scipy", "pandas")


def _commands() -> list[tuple[str, ...]]:
    """The path of every group and command under ``loopline``, the root included."""
    found: list[tuple[str, ...]] = []

    def walk(command: Any, path: tuple[str, ...]) -> None:
        found.append(path)
        for name, sub in (getattr(command, "commands", None) or {}).items():
            walk(sub, (*path, name))

    walk(typer.main.get_command(app), ())
    return found


COMMANDS = _commands()


def _help_text(path: tuple[str, ...]) -> str:
    result = runner.invoke(app, [*path, "--help"], env=HELP_ENV)
    assert result.exit_code == 0, result.output
    return ANSI.sub("", result.output)


def _examples(help_text: str) -> list[str]:
    """The command lines of the help's last paragraph, which must be its example(s)."""
    last = re.split(r"\n[ \t]*\n", help_text.strip())[-1]
    lines = [line.strip() for line in last.splitlines()]
    if lines[0].startswith("Example: "):
        return [lines[0].removeprefix("Example: "), *lines[1:]]
    assert lines[0] == "Examples:", f"the help does not end with an example:\n{help_text}"
    return lines[1:]


def _parse(command_line: str) -> None:
    """Parse ``command_line`` as loopline would, without running it: a mistyped option or value raises."""
    args = shlex.split(command_line)
    assert args[0] == "loopline"
    command: Any = typer.main.get_command(app)
    args = args[1:]
    path = ["loopline"]
    while args and args[0] in (getattr(command, "commands", None) or {}):
        path.append(args[0])
        command = command.commands[args.pop(0)]
    command.make_context(" ".join(path), args)


def test_version_prints_the_package_version() -> None:
    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0
    assert result.stdout == f"loopline {loopline.__version__}\n"


def test_the_walk_finds_every_command() -> None:
    assert {("models", "list"), ("experiment", "analyze"), ("keys", "revoke"), ("train",), ("loop",), ()} <= set(
        COMMANDS)
    assert len(COMMANDS) == 25


@pytest.mark.parametrize("path", COMMANDS, ids=lambda p: " ".join(p) or "loopline")
def test_help_lists_flags_without_a_type_and_ends_with_an_example_that_parses(path: tuple[str, ...]) -> None:
    text = _help_text(path)
    assert "<bool>" not in text
    assert "--help" in text
    examples = _examples(text)
    assert examples
    for line in examples:
        assert line.startswith("loopline "), line
        assert any(row.strip().removeprefix("Example: ") == line for row in text.splitlines()), (
            f"the example {line!r} is wrapped in an 80-column terminal")
        _parse(line)


def test_flags_keep_their_types_where_they_take_values() -> None:
    text = _help_text(("serve",))
    assert "<int>" in text and "<str>" in text and "<path>" in text
    assert re.search(r"--auth\s+--no-auth\s+Require API keys", text)


def test_an_example_naming_an_unknown_option_does_not_parse() -> None:
    with pytest.raises(Exception, match="No such option"):
        _parse("loopline train --spec loopline.yaml --promot")


# -- speed: `models list` reads the registry without the modelling stack ---------------------------------------

@pytest.fixture
def registered(tmp_path: Path) -> tuple[Path, ModelVersion]:
    """A workspace deep under a long folder name, with one version of 'churn' as champion."""
    root = tmp_path / ("a-rather-long-folder-name-that-a-terminal-would-wrap-" * 2) / "workspace"
    registry = Registry(Workspace.open(root, env={}))
    version = register(registry, make_artifact(tmp_path / "saved"), alias="champion", reason="first")
    return root, version


def test_models_list_does_not_import_the_modelling_stack(registered: tuple[Path, ModelVersion]) -> None:
    root, _ = registered
    code = (
        "import json, sys\n"
        "from loopline.cli import main\n"
        f"sys.argv = ['loopline', 'models', 'list', '-w', {str(root)!r}, '--json']\n"
        "try:\n"
        "    main()\n"
        "except SystemExit as exc:\n"
        "    assert not exc.code, exc.code\n"
        f"print(json.dumps(sorted(m for m in {HEAVY!r} if m in sys.modules)), file=sys.stderr)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False,
                          env={"PATH": "/usr/bin:/bin", "OMP_NUM_THREADS": "1"})
    assert done.returncode == 0, done.stderr
    assert [v["version"] for v in json.loads(done.stdout)] == [1]
    assert json.loads(done.stderr.strip().splitlines()[-1]) == []


def test_registry_load_still_finds_the_model_loader() -> None:
    from loopline.models import load_model
    from loopline.registry import _registry

    assert _registry.load_model is load_model


# -- pipes: nothing cut, nothing wrapped --------------------------------------------------------------------------

def test_piped_tables_keep_long_paths_and_rows_whole(registered: tuple[Path, ModelVersion]) -> None:
    root, version = registered
    assert len(str(version.artifact_path)) > 120
    shown = runner.invoke(app, ["models", "show", "churn", "1", "-w", str(root)])
    assert shown.exit_code == 0, shown.output
    assert any(str(version.artifact_path) in line for line in shown.stdout.splitlines()), shown.stdout
    assert "…" not in shown.stdout

    listed = runner.invoke(app, ["models", "list", "-w", str(root)])
    assert listed.exit_code == 0, listed.output
    row = next(line for line in listed.stdout.splitlines() if "champion" in line)
    assert version.created_at.isoformat()[:19] in row
    assert "roc_auc=0.7900, log_loss=0.4400" in row


def test_json_is_the_same_whatever_the_width(registered: tuple[Path, ModelVersion]) -> None:
    root, version = registered
    result = runner.invoke(app, ["models", "show", "churn", "1", "-w", str(root), "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["artifact_path"] == str(version.artifact_path)


def test_a_missing_long_workspace_is_named_whole(tmp_path: Path) -> None:
    missing = tmp_path / ("no-such-workspace-under-a-long-name-" * 4)
    result = runner.invoke(app, ["models", "list", "-w", str(missing)])
    assert result.exit_code == 2
    assert any(str(missing) in line for line in result.output.splitlines()), result.output


class Terminal:
    """A stream that says it is a terminal, and keeps what is written to it."""

    def __init__(self) -> None:
        self.written: list[str] = []

    def isatty(self) -> bool:
        return True

    def write(self, text: str) -> int:
        self.written.append(text)
        return len(text)

    def flush(self) -> None:
        pass


def test_the_console_is_terminal_wide_on_a_terminal_and_unbounded_on_a_pipe(tmp_path: Path) -> None:
    assert _console.PipeConsole(file=Terminal(), width=60, height=25).width == 60  # type: ignore[arg-type]
    with (tmp_path / "out.txt").open("w") as piped:
        assert _console.PipeConsole(file=piped, width=60, height=25).width == _console.PIPE_WIDTH


def test_terminal_tables_fold_long_cells_instead_of_cutting_them() -> None:
    path = "/workspace/" + "deep/" * 20 + "model.json"
    table = _console.make_table("field", "value")
    table.add_row("artifact_path", path)
    terminal = Terminal()
    _console.PipeConsole(file=terminal, width=60, height=25, color_system=None).print(table)  # type: ignore[arg-type]
    lines = "".join(terminal.written).splitlines()
    assert max(len(line) for line in lines) <= 60
    assert "…" not in "".join(lines)
    cells = [line.split("│")[2].strip() for line in lines if line.count("│") == 3]
    assert len(cells) > 1 and "".join(cells) == path


def test_errors_print_brackets_as_written(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(typer.Exit):
        _console.fail("the redis store needs an extra: pip install 'loopline[redis]'", as_json=False)
    assert "pip install 'loopline[redis]'" in capsys.readouterr().err


# -- words that fit the task ---------------------------------------------------------------------------------

def _outcome(task: str, metrics: dict[str, float], *, thresholds: dict[str, float | None]) -> Any:
    """Enough of a TrainingOutcome for show_training: two models, three splits, a report path."""
    splits = tuple(SplitSummary(name=n, rows=100, start="2024-01-01T00:00:00", end="2024-02-01T00:00:00",
                                label_rate=0.25) for n in ("train", "valid", "test"))
    models = [SimpleNamespace(name=name, family="lightgbm", is_baseline=name == "constant", test=metrics)
              for name in thresholds]
    return SimpleNamespace(
        evaluation=SimpleNamespace(task=task, primary_metric=next(iter(metrics)), metric_labels={}, ranking=None,
                                   split="test"), splits=splits, models=models,
        best="lightgbm", trained={n: SimpleNamespace(threshold=t) for n, t in thresholds.items()}, warnings=[],
        promoted=True, model_name="churn", version=SimpleNamespace(version=1),
        report=SimpleNamespace(html=Path("report.html")))


def _header(text: str, first: str) -> list[str]:
    line = next(line for line in text.splitlines() if line.startswith("┃") and line.strip("┃ ").startswith(first))
    return [cell.strip() for cell in line.strip().strip("┃").split("┃")]


@pytest.mark.parametrize(("task", "metrics", "heading"), [
    ("regression", {"rmse": 1.5, "mae": 1.0, "r2": 0.5}, "mean label"),
    ("ranking", {"ndcg": 0.7, "map": 0.5}, "mean relevance"),
    ("multiclass", {"log_loss": 0.9, "accuracy": 0.6, "macro_f1": 0.5}, "label rate"),
])
def test_the_split_table_names_the_label_mean_for_the_task(capsys: pytest.CaptureFixture[str], task: str,
                                                           metrics: dict[str, float], heading: str) -> None:
    _show.show_training(_outcome(task, metrics, thresholds={"lightgbm": None, "constant": None}))
    text = capsys.readouterr().out
    assert _header(text, "split") == ["split", "rows", "from", "to", heading]
    assert _header(text, "model") == ["model", "role", *metrics]


def test_binary_training_table_shows_each_models_threshold_beside_accuracy(capsys: pytest.CaptureFixture[str]) -> None:
    metrics = {"log_loss": 0.4, "roc_auc": 0.8, "pr_auc": 0.5, "ece": 0.02, "accuracy": 0.83}
    _show.show_training(_outcome("binary", metrics, thresholds={"lightgbm": 0.3125, "constant": None}))
    text = capsys.readouterr().out
    assert _header(text, "split")[-1] == "label rate"
    assert _header(text, "model") == ["model", "role", "log_loss", "roc_auc", "pr_auc", "ece", "accuracy", "threshold"]
    rows = {line.split("│")[1].strip(): [c.strip() for c in line.split("│")[2:-1]]
            for line in text.splitlines() if line.startswith("│")}
    assert rows["lightgbm"][-2:] == ["0.8300", "0.3125"]
    assert rows["constant"][-2:] == ["0.8300", "0.5000"]  # a baseline without a threshold is counted at 0.5


def test_doctests() -> None:
    for module in (_console, _help, _show):
        assert doctest.testmod(module).failed == 0
