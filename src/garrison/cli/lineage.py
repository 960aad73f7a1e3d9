"""``garrison lineage``: datasets -> training runs -> model versions -> deployments.

``show`` prints the graph of a model (or one version) as a tree or JSON; ``export``
writes it as OpenLineage RunEvents, one JSON document per line, for Marquez and
similar tools. Both need ``view-lineage``.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import click

from garrison.cli._common import CLIState, emit, handle_errors, json_option, pass_state
from garrison.errors import InvalidInput

__all__ = ["lineage_group"]

_REF = re.compile(r"^([^:\s]{1,128})(?::([^:\s]{1,32}))?$")


def _model_ref(ref: str) -> tuple[str, str | None]:
    """``MODEL`` or ``MODEL:VERSION``."""
    match = _REF.fullmatch(ref or "")
    if match is None:
        raise InvalidInput("expected MODEL or MODEL:VERSION", ref=str(ref)[:80])
    return match.group(1), match.group(2)


@click.group("lineage")
def lineage_group() -> None:
    """Where a model version came from and where it runs."""


@lineage_group.command("show")
@click.argument("ref", metavar="MODEL[:VERSION]")
@json_option
@pass_state
@handle_errors
def lineage_show(state: CLIState, ref: str, as_json: bool) -> None:
    """Print the lineage of MODEL (every version) or of one version as a tree.

    Upstream: the training run that produced the version and the dataset versions it
    used (with their content digests). Downstream: the deployments of the version.
    """
    from garrison.lineage import render_tree

    name, version = _model_ref(ref)
    graph = state.services.datasets.lineage(state.principal(), name, version)
    if as_json:
        emit(graph.to_dict())
        return
    click.echo(render_tree(graph, name, version))


@lineage_group.command("export")
@click.argument("ref", metavar="MODEL[:VERSION]")
@click.option("--openlineage", "openlineage", is_flag=True,
              help="Export as OpenLineage RunEvents (the only format; required).")
@click.option("--namespace", default="garrison", show_default=True,
              help="OpenLineage namespace of the jobs and datasets.")
@click.option("--producer", default=None,
              help="Producer URI of the events (default urn:garrison:<version>); custom facet "
              "schema URLs are built under it.")
@click.option("--repo-url", default=None,
              help="Git URL of the training code (adds the sourceCodeLocation job facet).")
@click.option("--out", "out", type=click.Path(dir_okay=False, path_type=Path),
              help="Write the events here instead of standard output.")
@pass_state
@handle_errors
def lineage_export(state: CLIState, ref: str, openlineage: bool, namespace: str,
                   producer: str | None, repo_url: str | None, out: Path | None) -> None:
    """Write the lineage of MODEL[:VERSION] as OpenLineage RunEvents (JSON lines).

    Each training run gives a START and a COMPLETE event whose inputs are the dataset
    versions it used (``datasetVersion`` is the content digest) and whose output is the
    model version; each deployment gives a run of job ``deploy.<model>.<stage>``.
    """
    if not openlineage:
        raise InvalidInput("say --openlineage")
    name, version = _model_ref(ref)
    from garrison.datasets import PRODUCER

    events = state.services.datasets.openlineage_events(
        state.principal(), name, version, namespace=namespace, producer=producer or PRODUCER,
        repo_url=repo_url)
    text = "".join(json.dumps(e, sort_keys=True, ensure_ascii=False) + "\n" for e in events)
    if out is None:
        click.echo(text, nl=False)
        return
    out.write_text(text, encoding="utf-8")
    click.echo(f"wrote {len(events)} OpenLineage events to {out}", err=True)
