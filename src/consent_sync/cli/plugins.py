"""The sandbox tooling (`sandbox`, `demo`, `bench`) as a plugin of the command line.

The CRM emulators ship with the source checkout, not the wheel, and the product never imports
them statically: the root group imports the plugin module by name only when one of its commands
is named or the command list is shown, so every other command starts without it. Where it is
not installed, stand-ins say how to get it and exit 2.
"""

from __future__ import annotations

import functools
import importlib
from collections.abc import Callable
from typing import Any

import typer
from typer.core import TyperGroup
from typer.main import get_group

from consent_sync.cli.options import EXIT_USAGE, fail

#: The plugin: a module with `register(app: typer.Typer)` adding the commands below to `app`.
SANDBOX_PLUGIN = "consent_sync_sandbox.cli"
SANDBOX_COMMANDS = ("sandbox", "demo", "bench")
NOT_INSTALLED = (
    "`consent-sync {name}` is not in this installation: the CRM emulators ship with the source "
    "checkout, not the package; from a checkout: pip install -e '.[sandbox]'"
)
MISSING_DEPENDENCY = (
    "`consent-sync {{name}}` needs the Python package {missing!r}, which the sandbox extra "
    "installs: pip install -e '.[sandbox]'"
)
NOT_INSTALLED_HELP = (
    "Not in this installation: from a source checkout, pip install -e '.[sandbox]'."
)


class WithSandboxPlugin(TyperGroup):
    """The root group: its own commands, then the sandbox plugin's, imported when first needed.

    `ctx` and the commands are typed loosely: the click types of typer are private.
    """

    def list_commands(self, ctx: Any) -> list[str]:
        own = super().list_commands(ctx)
        return [*own, *(name for name in SANDBOX_COMMANDS if name not in own)]

    def get_command(self, ctx: Any, cmd_name: str) -> Any:
        command = super().get_command(ctx, cmd_name)
        if command is None and cmd_name in SANDBOX_COMMANDS:
            return sandbox_commands().get(cmd_name)
        return command


@functools.cache
def sandbox_commands() -> dict[str, Any]:
    """The plugin's commands by name, or stand-ins that exit 2 where it is not installed."""
    commands = typer.Typer()
    try:
        plugin = importlib.import_module(SANDBOX_PLUGIN)
    except ModuleNotFoundError as exc:
        absent = exc.name in (SANDBOX_PLUGIN, SANDBOX_PLUGIN.partition(".")[0])
        # Either the plugin is not here (an installed package), or it is and needs a dependency
        # of the sandbox extra that is not installed: say which.
        message = NOT_INSTALLED if absent else MISSING_DEPENDENCY.format(missing=exc.name)
        for name in SANDBOX_COMMANDS:
            commands.command(
                name,
                help=NOT_INSTALLED_HELP,
                context_settings={"allow_extra_args": True, "ignore_unknown_options": True},
            )(_not_installed(message))
    else:
        plugin.register(commands)
    return dict(get_group(commands).commands)


def _not_installed(message: str) -> Callable[[typer.Context], None]:
    """A stand-in command that exits 2 with `message` (naming the command run)."""

    def stand_in(ctx: typer.Context) -> None:
        raise fail(message.format(name=ctx.info_name), EXIT_USAGE)

    return stand_in
