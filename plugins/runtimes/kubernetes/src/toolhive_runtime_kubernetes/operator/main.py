"""``thv-operator``: out of cluster with a kubeconfig, or in cluster with its service account."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys

from toolhive_runtime_kubernetes.operator import controllers
from toolhive_runtime_kubernetes.operator.framework import DEFAULT_RUNNER_IMAGE, Operator, Settings


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="thv-operator",
        description="Reconcile ToolHive's custom resources (toolhive.stacklok.dev/v1beta1).",
    )
    parser.add_argument(
        "--kubeconfig",
        default=None,
        help="kubeconfig file (default: in a pod its service account, else $KUBECONFIG or ~/.kube/config)",
    )
    parser.add_argument(
        "--namespace",
        default=os.environ.get("WATCH_NAMESPACE") or None,
        help="watch only this namespace (default: $WATCH_NAMESPACE, else every namespace)",
    )
    parser.add_argument(
        "--runner-image",
        default=os.environ.get("TOOLHIVE_RUNNER_IMAGE") or DEFAULT_RUNNER_IMAGE,
        help=f"proxy runner image (default: $TOOLHIVE_RUNNER_IMAGE, else {DEFAULT_RUNNER_IMAGE})",
    )
    parser.add_argument(
        "--image-pull-policy",
        default=os.environ.get("TOOLHIVE_IMAGE_PULL_POLICY") or "IfNotPresent",
        choices=["Always", "IfNotPresent", "Never"],
        help="imagePullPolicy of the containers the operator creates (default IfNotPresent)",
    )
    parser.add_argument("--workers", type=int, default=4, help="concurrent reconciles (default 4)")
    parser.add_argument(
        "--resync",
        type=float,
        default=300.0,
        help="seconds between full resyncs (0: never; default 300)",
    )
    parser.add_argument(
        "--peering",
        default=None,
        metavar="NAME",
        help="coordinate replicas through kopf's peering object NAME (default: standalone)",
    )
    parser.add_argument(
        "--liveness",
        default=None,
        metavar="URL",
        help="serve a liveness probe, e.g. http://0.0.0.0:8081/healthz",
    )
    parser.add_argument("--log-level", default=os.environ.get("TOOLHIVE_LOG_LEVEL", "INFO"))
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(
        level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    # kopf's own loggers: warnings only (its per-event lines would drown ours).
    logging.getLogger("kopf").setLevel(max(logging.WARNING, logging.getLogger().level))
    if args.kubeconfig:
        os.environ["KUBECONFIG"] = args.kubeconfig  # kopf's login reads it too

    import kopf

    from toolhive_runtime_kubernetes.operator.handlers import build_registry
    from toolhive_runtime_kubernetes.operator.kube import ApiKube
    from toolhive_runtime_kubernetes.operator.queue import WorkQueue

    try:
        kube = ApiKube.from_environment(args.kubeconfig)
    except Exception as exc:  # no kubeconfig, bad file: say what to do
        print(f"thv-operator: cannot reach a Kubernetes API: {exc}", file=sys.stderr)
        print("  set KUBECONFIG (or --kubeconfig), or run it in a pod", file=sys.stderr)
        return 2
    settings = Settings(
        runner_image=args.runner_image,
        namespace=args.namespace,
        image_pull_policy=args.image_pull_policy,
        resync_seconds=args.resync,
    )
    operator = Operator(kube, settings)
    for ctrl in controllers():
        operator.register(ctrl)
    queue = WorkQueue(operator.process, workers=args.workers)
    registry = build_registry(operator, queue)
    logging.getLogger("toolhive.operator").info(
        "thv-operator: watching %s; proxy runner image %s",
        f"namespace {args.namespace}" if args.namespace else "every namespace",
        args.runner_image,
    )
    asyncio.run(
        kopf.operator(
            registry=registry,
            clusterwide=args.namespace is None,
            namespaces=[args.namespace] if args.namespace else (),
            standalone=args.peering is None,
            peering_name=args.peering,
            liveness_endpoint=args.liveness,
        )
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
