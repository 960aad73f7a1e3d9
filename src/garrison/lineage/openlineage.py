"""Export lineage as OpenLineage run events (for Marquez and similar tools).

Every run in the graph becomes a job run with a START event at ``started`` and, if it has
ended, a COMPLETE event at ``ended``:

* job: ``run.job`` or, by default, ``train.<model>`` for runs that produced a model version
  (``prepare.<dataset>`` for runs that produced a dataset); job facets ``jobType``
  (BATCH / GARRISON / TRAINING or PREPARATION) and, when ``repo_url`` is given and the run has
  a commit, ``sourceCodeLocation``;
* run: the run id itself if it is a UUID, else a UUIDv5 of namespace and run id, so the same
  run always exports under the same id; facets ``nominalTime``, ``executionParameters`` and
  the custom ``garrison_run`` (run id, code commit);
* inputs: the dataset versions (and model versions) the run used; outputs (COMPLETE only):
  what it produced. Datasets keep their registry name; a model version is the dataset
  ``models/<name>``. Each carries ``version`` (``datasetVersion`` = the content digest),
  ``schema`` when columns are known, ``datasetType`` MODEL for models, ``inputStatistics``
  (row count) and the custom ``garrison_dataset`` / ``garrison_model`` facets.

With ``include_deployments`` each deployment is a run of job ``deploy.<model>.<stage>``
whose input is the deployed model version, START and COMPLETE at ``since``.

The events are built with the ``openlineage-python`` client classes (so the client validates
them) and serialised with its ``Serde``; that package is the optional ``lineage`` extra and
is imported only here, inside the function.
"""

from __future__ import annotations

import uuid
from typing import Any

from garrison.errors import ConfigurationError
from garrison.types import utc_iso

from .graph import LineageGraph
from .nodes import DatasetNode, DeploymentNode, ModelVersionNode, Node, RunNode

__all__ = ["openlineage_run_id", "to_openlineage_events"]

_RUN_NAMESPACE = uuid.UUID("6f1d0c3e-5b8a-5d7e-9c41-3a2b9e7d1f60")


def openlineage_run_id(namespace: str, run_id: str) -> str:
    """The OpenLineage run id of a Garrison run: itself if a UUID, else a stable UUIDv5."""
    try:
        return str(uuid.UUID(run_id))
    except ValueError:
        return str(uuid.uuid5(_RUN_NAMESPACE, f"{namespace}\x00{run_id}"))


def _dataset_name(node: Node) -> str:
    return f"models/{node.name}" if isinstance(node, ModelVersionNode) else node.name  # type: ignore[union-attr]


def _job_name(graph: LineageGraph, run: RunNode) -> tuple[str, str]:
    outputs = graph.children(run)
    models = [n for n in outputs if isinstance(n, ModelVersionNode)]
    datasets = [n for n in outputs if isinstance(n, DatasetNode)]
    kind = "TRAINING" if models or not datasets else "PREPARATION"
    if run.job:
        return run.job, kind
    if models:
        return f"train.{models[0].name}", kind
    if datasets:
        return f"prepare.{datasets[0].name}", kind
    return f"run.{run.run_id}", kind


def to_openlineage_events(
    graph: LineageGraph,
    namespace: str,
    producer: str,
    *,
    repo_url: str | None = None,
    include_deployments: bool = True,
) -> list[dict[str, Any]]:
    """OpenLineage RunEvent dicts for every run (and deployment) in ``graph``, by time."""
    try:
        from openlineage.client import event_v2 as ol
        from openlineage.client.facet_v2 import (
            DatasetFacet,
            RunFacet,
            dataset_type_dataset,
            dataset_version_dataset,
            execution_parameters_run,
            input_statistics_input_dataset,
            job_type_job,
            nominal_time_run,
            schema_dataset,
            source_code_location_job,
        )
        from openlineage.client.serde import Serde
    except ImportError as exc:  # pragma: no cover - the extra is installed in CI.
        raise ConfigurationError(
            "OpenLineage export needs the 'lineage' extra (pip install garrison[lineage])"
        ) from exc

    schema_base = producer.rstrip("/") + "/spec/facets/1-0-0/"

    def custom(cls: type, facet_type: str, **fields: Any) -> Any:
        facet = cls(producer=producer).with_additional_properties(**fields)
        facet._schemaURL = f"{schema_base}{facet_type}.json#/$defs/{facet_type}"
        return facet

    def dataset_facets(node: Node) -> dict[str, Any]:
        if isinstance(node, ModelVersionNode):
            return {
                "version": dataset_version_dataset.DatasetVersionDatasetFacet(
                    datasetVersion=node.artifact_digest, producer=producer
                ),
                "datasetType": dataset_type_dataset.DatasetTypeDatasetFacet(
                    datasetType="MODEL", producer=producer
                ),
                "garrison_model": custom(
                    DatasetFacet,
                    "GarrisonModelDatasetFacet",
                    name=node.name,
                    version=node.version,
                    artifactDigest=node.artifact_digest,
                ),
            }
        assert isinstance(node, DatasetNode)
        facets: dict[str, Any] = {
            "version": dataset_version_dataset.DatasetVersionDatasetFacet(
                datasetVersion=node.digest, producer=producer
            ),
            "garrison_dataset": custom(
                DatasetFacet,
                "GarrisonDatasetFacet",
                version=node.version,
                digest=node.digest,
                schemaDigest=node.schema_digest,
                rows=node.rows,
            ),
        }
        if node.columns:
            facets["schema"] = schema_dataset.SchemaDatasetFacet(
                fields=[
                    schema_dataset.SchemaDatasetFacetFields(name=n, type=t, ordinal_position=i)
                    for i, (n, t) in enumerate(node.columns, start=1)
                ],
                producer=producer,
            )
        return facets

    def inputs_of(nodes: list[Node]) -> list[Any]:
        result = []
        for node in nodes:
            input_facets: dict[str, Any] = {}
            if isinstance(node, DatasetNode) and node.rows is not None:
                input_facets["inputStatistics"] = (
                    input_statistics_input_dataset.InputStatisticsInputDatasetFacet(
                        rowCount=node.rows, producer=producer
                    )
                )
            result.append(
                ol.InputDataset(
                    namespace,
                    _dataset_name(node),
                    facets=dataset_facets(node),
                    inputFacets=input_facets,
                )
            )
        return result

    def outputs_of(nodes: list[Node]) -> list[Any]:
        return [
            ol.OutputDataset(namespace, _dataset_name(n), facets=dataset_facets(n)) for n in nodes
        ]

    def job(name: str, kind: str, commit: str | None) -> Any:
        facets: dict[str, Any] = {
            "jobType": job_type_job.JobTypeJobFacet(
                processingType="BATCH", integration="GARRISON", jobType=kind, producer=producer
            )
        }
        if repo_url and commit:
            facets["sourceCodeLocation"] = source_code_location_job.SourceCodeLocationJobFacet(
                type="git", url=repo_url, repoUrl=repo_url, version=commit, producer=producer
            )
        return ol.Job(namespace=namespace, name=name, facets=facets)

    events: list[tuple[str, int, Any]] = []
    for run in (n for n in graph.nodes("run") if isinstance(n, RunNode)):
        job_name, kind = _job_name(graph, run)
        run_facets: dict[str, Any] = {
            "nominalTime": nominal_time_run.NominalTimeRunFacet(
                nominalStartTime=utc_iso(run.started),
                nominalEndTime=None if run.ended is None else utc_iso(run.ended),
                producer=producer,
            ),
            "garrison_run": custom(
                RunFacet, "GarrisonRunFacet", runId=run.run_id, codeCommit=run.code_commit
            ),
        }
        if run.parameters:
            run_facets["executionParameters"] = (
                execution_parameters_run.ExecutionParametersRunFacet(
                    parameters=[
                        execution_parameters_run.ExecutionParameter(key=k, value=str(v))
                        for k, v in sorted(run.parameters.items())
                    ],
                    producer=producer,
                )
            )
        ol_run = ol.Run(runId=openlineage_run_id(namespace, run.run_id), facets=run_facets)
        ol_job = job(job_name, kind, run.code_commit)
        inputs = inputs_of(graph.parents(run))
        start = ol.RunEvent(
            eventType=ol.RunState.START,
            eventTime=utc_iso(run.started),
            run=ol_run,
            job=ol_job,
            inputs=inputs,
            outputs=[],
            producer=producer,
        )
        events.append((utc_iso(run.started), 0, start))
        if run.ended is not None:
            complete = ol.RunEvent(
                eventType=ol.RunState.COMPLETE,
                eventTime=utc_iso(run.ended),
                run=ol_run,
                job=ol_job,
                inputs=inputs,
                outputs=outputs_of(graph.children(run)),
                producer=producer,
            )
            events.append((utc_iso(run.ended), 1, complete))
    if include_deployments:
        for node in graph.nodes("deployment"):
            assert isinstance(node, DeploymentNode)
            when = utc_iso(node.since)
            ol_run = ol.Run(runId=openlineage_run_id(namespace, node.key))
            ol_job = job(f"deploy.{node.model}.{node.stage}", "DEPLOYMENT", None)
            inputs = inputs_of(graph.parents(node))
            for order, state in enumerate((ol.RunState.START, ol.RunState.COMPLETE)):
                events.append(
                    (
                        when,
                        order,
                        ol.RunEvent(
                            eventType=state,
                            eventTime=when,
                            run=ol_run,
                            job=ol_job,
                            inputs=inputs,
                            outputs=[],
                            producer=producer,
                        ),
                    )
                )
    events.sort(key=lambda item: (item[0], item[1]))
    return [Serde.to_dict(event) for _, _, event in events]
