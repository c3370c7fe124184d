"""``thv build``: a container image from ``uvx://``, ``npx://`` or ``go://``, without running it."""

from __future__ import annotations

from pathlib import Path

import click

from toolhive.cli.output import state
from toolhive.contracts.runtime import Runtime
from toolhive.errors import InvalidInputError, RuntimeUnavailableError
from toolhive.plugins import Hooks


def _container_runtime(hooks: Hooks, requested: str | None) -> Runtime:
    from toolhive.workloads.runtimes import detect_all, select_runtime

    if requested:
        spec, detection = select_runtime(hooks, requested)
        if not spec.is_container:
            msg = f"the {spec.name} runtime runs packages directly; build with podman or docker"
            raise InvalidInputError(msg)
        return hooks.load("runtimes", spec.name, detection=detection)
    for spec, detection in detect_all(hooks):
        if spec.is_container and detection.available:
            return hooks.load("runtimes", spec.name, detection=detection)
    msg = "no container engine found to build with: start Podman or Docker (`thv runtime check`)"
    raise RuntimeUnavailableError(msg)


@click.command()
@click.argument("protocol")
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
@click.option("-t", "--tag", help="Image name (default toolhivelocal/<scheme>-<package>:<time>).")
@click.option(
    "-o",
    "--output",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Write the Dockerfile to this file instead of building.",
)
@click.option("--dry-run", is_flag=True, help="Print the Dockerfile instead of building.")
@click.option("--ca-cert", help="CA certificate (PEM) to trust during the build.")
@click.option("--builder-image", help="Image the package is installed in (builder stage).")
@click.option("--runtime-image", help="Base image of the result (runtime stage).")
@click.option(
    "--runtime-add-package",
    "add_packages",
    multiple=True,
    help="OS package (apt/apk) to add to both stages; repeatable.",
)
@click.option("--runtime", help="Container runtime to build with (default: detected).")
@click.pass_context
def build(
    ctx: click.Context,
    protocol: str,
    args: tuple[str, ...],
    tag: str | None,
    output: Path | None,
    dry_run: bool,
    ca_cert: str | None,
    builder_image: str | None,
    runtime_image: str | None,
    add_packages: tuple[str, ...],
    runtime: str | None,
) -> None:
    """Build an image for PROTOCOL (uvx://pkg[@ver], npx://pkg[@ver], go://module[@ver],
    go://./path). Arguments after `--` are baked into the image's ENTRYPOINT."""
    from toolhive.builds.build import build_image, plan_build
    from toolhive.builds.schemes import validate_tag
    from toolhive.builds.settings import RuntimeSettings

    if tag:
        validate_tag(tag)
    override = None
    if builder_image or runtime_image or add_packages:
        override = RuntimeSettings(
            builder_image=builder_image or "",
            runtime_image=runtime_image or "",
            additional_packages=list(add_packages),
        )
    plan = plan_build(
        protocol, ca_cert_path=ca_cert, runtime_override=override, build_args=list(args)
    )
    if dry_run or output is not None:
        for note in plan.notes:
            click.echo(note, err=True)
        if output is not None:
            output.write_text(plan.dockerfile)
            click.echo(f"wrote the Dockerfile for {plan.ref.source} to {output}", err=True)
        else:
            click.echo(plan.dockerfile, nl=False)
        return

    def progress(line: str) -> None:
        click.echo(line, err=True)

    rt = _container_runtime(state(ctx).hooks, runtime)
    result = build_image(
        rt, plan, tag=tag, reuse=False, progress=lambda line: progress(f"  {line}")
    )
    click.echo(result.image)
