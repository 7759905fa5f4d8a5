"""``durable-azure package``: make a function app folder deployable without durable-azure on a public index.

It builds a wheel of durable-azure (``pip wheel``, from the durable-azure source tree) into
``APP_DIR/wheels/`` and points the app's ``requirements.txt`` at it (``./wheels/<wheel>``), so the
remote build that ``func azure functionapp publish`` starts installs it with the rest of the
requirements. The wheel's own dependencies come from PyPI as usual.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import click

from .errors import CliError, one_line

WHEEL_DIR = "wheels"
#: A requirements line that installs durable-azure: by name, or a wheel built earlier.
_OURS = re.compile(r"^\s*(durable[-_.]azure\b|\S*durable_azure-[^/\s]*\.whl\b)", re.IGNORECASE)


def source_tree(explicit: str | None = None) -> Path:
    """The durable-azure source tree (the folder with its ``pyproject.toml``)."""
    candidate = Path(explicit) if explicit else Path(__file__).resolve().parents[2]
    pyproject = candidate / "pyproject.toml"
    if not pyproject.is_file() or 'name = "durable-azure"' not in pyproject.read_text(encoding="utf-8"):
        raise CliError(
            f"{candidate} is not the durable-azure source tree (no pyproject.toml naming durable-azure). "
            "Pass --source with the folder of a durable-azure checkout."
        )
    return candidate


def build_wheel(source: Path, app_dir: Path) -> Path:
    """Build the wheel into ``app_dir/wheels`` (older durable-azure wheels there are removed)."""
    target = app_dir / WHEEL_DIR
    target.mkdir(parents=True, exist_ok=True)
    for old in target.glob("durable_azure-*.whl"):
        old.unlink()
    command = [sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "--wheel-dir", str(target)]
    result = subprocess.run([*command, str(source)], capture_output=True, text=True, check=False)
    wheels = sorted(target.glob("durable_azure-*.whl"))
    if result.returncode != 0 or not wheels:
        detail = one_line(result.stderr or result.stdout or "no wheel was written")
        raise CliError(f"pip wheel failed for {source}: {detail}")
    return wheels[-1]


def point_requirements(app_dir: Path, wheel: Path) -> Path:
    """Replace the app's durable-azure requirement with ``./wheels/<wheel>`` (added if missing)."""
    requirements = app_dir / "requirements.txt"
    line = f"./{WHEEL_DIR}/{wheel.name}"
    lines = requirements.read_text(encoding="utf-8").splitlines() if requirements.is_file() else []
    kept = [text for text in lines if not _OURS.match(text)]
    requirements.write_text("\n".join([*kept, line]) + "\n", encoding="utf-8")
    return requirements


@click.command("package")
@click.argument("app_dir", default=".", type=click.Path(file_okay=False, exists=True))
@click.option(
    "--source",
    type=click.Path(file_okay=False, exists=True),
    help="The durable-azure source tree to build. Default: the one this command runs from.",
)
def package(app_dir: str, source: str | None) -> None:
    """Build durable-azure into APP_DIR/wheels and point APP_DIR/requirements.txt at the wheel.

    Then publish APP_DIR as usual (func azure functionapp publish <app>): the remote build installs
    the wheel from the app folder, its dependencies from PyPI.
    """
    folder = Path(app_dir)
    if not (folder / "function_app.py").is_file():
        raise click.BadParameter(f"no function_app.py in {app_dir!r}", param_hint="'APP_DIR'")
    wheel = build_wheel(source_tree(source), folder)
    requirements = point_requirements(folder, wheel)
    click.echo(f"Built {wheel}")
    click.echo(f"{requirements} now installs ./{WHEEL_DIR}/{wheel.name}")
    click.echo("Publish the folder with: func azure functionapp publish <app-name>")


COMMANDS = [package]
