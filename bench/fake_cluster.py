"""Benchmark the fake cluster against a plain-dict baseline measured in the same run.

    python bench/fake_cluster.py [--objects 10000]

Objects are RayJobs of about 3.5 KB of JSON. The baseline does the least any in-memory store
must: keep bytes in a dict and copy in and out through orjson (DESIGN.md section 8). Watch
fan-out: one writer patches objects while W watchers (separate tasks) consume every event; the
baseline fans the same bytes out through one ``asyncio.Queue`` per watcher and decodes each.
"""

from __future__ import annotations

import argparse
import asyncio
import time
from collections.abc import Awaitable, Callable

import orjson

from rayop.fakes.cluster import FakeCluster
from rayop.ray.kinds import RAYJOB
from rayop.runtime.client import Obj
from rayop.runtime.patch import merge_patch

NS = "default"


def rayjob(i: int) -> Obj:
    """A realistic RayJob with a rayClusterSpec pod template (about 3.5 KB of JSON)."""
    container = {
        "name": "ray-head", "image": "rayproject/ray:2.9.0-py310",
        "ports": [{"containerPort": 6379, "name": "gcs-server"},
                  {"containerPort": 8265, "name": "dashboard"},
                  {"containerPort": 10001, "name": "client"}],
        "resources": {"limits": {"cpu": "2", "memory": "8Gi"},
                      "requests": {"cpu": "2", "memory": "8Gi"}},
        "env": [{"name": "RAY_LOG_TO_STDERR", "value": "1"},
                {"name": "RAY_GRAFANA_HOST", "value": "http://grafana.monitoring:3000"},
                {"name": "RAY_PROMETHEUS_HOST", "value": "http://prometheus.monitoring:9090"},
                {"name": "NCCL_DEBUG", "value": "INFO"},
                {"name": "POD_IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}}],
        "volumeMounts": [{"mountPath": "/tmp/ray", "name": "ray-logs"},
                         {"mountPath": "/home/ray/samples", "name": "code-sample"}],
        "lifecycle": {"preStop": {"exec": {"command": ["/bin/sh", "-c", "ray stop"]}}},
    }
    worker = {**container, "name": "ray-worker", "ports": [],
              "resources": {"limits": {"cpu": "4", "memory": "16Gi", "nvidia.com/gpu": "1"},
                            "requests": {"cpu": "4", "memory": "16Gi", "nvidia.com/gpu": "1"}}}
    volumes = [{"name": "ray-logs", "emptyDir": {}},
               {"name": "code-sample", "configMap": {"name": "ray-job-code-sample",
                                                     "items": [{"key": "sample_code.py",
                                                                "path": "sample_code.py"}]}}]
    return {
        "apiVersion": "ray.io/v1", "kind": "RayJob",
        "metadata": {"name": f"rayjob-{i:06d}", "namespace": NS,
                     "labels": {"app.kubernetes.io/name": "kuberay", "team": f"t{i % 17}"},
                     "annotations": {"rayop.dev/owner": "bench", "rayop.dev/ticket": "ML-1234"}},
        "spec": {
            "entrypoint": "python /home/ray/samples/sample_code.py --epochs 10 --batch-size 256",
            "runtimeEnvYAML": "pip:\n  - requests==2.26.0\n  - pendulum==2.1.2\n"
                              "  - torch==2.1.0\n  - transformers==4.36.2\n"
                              "working_dir: https://github.com/ray-project/kuberay/archive/"
                              "master.zip\nenv_vars:\n  counter_name: 'test_counter'\n"
                              "  HF_HOME: /mnt/cache/huggingface\n",
            "metadata": {"experiment": f"exp-{i}", "owner": "ml-platform@example.com",
                         "dataset": "s3://datasets/imagenet/2012/train",
                         "description": "fine-tune a vision transformer on imagenet, "
                                        "10 epochs, mixed precision, checkpoint every epoch"},
            "entrypointNumCpus": 1, "entrypointResources": '{"accelerator_type_a100": 0.01}',
            "suspend": False,
            "shutdownAfterJobFinishes": True, "ttlSecondsAfterFinished": 600,
            "backoffLimit": 2, "activeDeadlineSeconds": 7200, "submissionMode": "K8sJobMode",
            "rayClusterSpec": {
                "rayVersion": "2.9.0", "enableInTreeAutoscaling": False,
                "headGroupSpec": {
                    "rayStartParams": {"dashboard-host": "0.0.0.0", "num-cpus": "0"},
                    "template": {"metadata": {"labels": {"ray.io/node-type": "head"}},
                                 "spec": {"containers": [container], "volumes": volumes}},
                },
                "workerGroupSpecs": [{
                    "groupName": "gpu-group", "replicas": 4, "minReplicas": 1, "maxReplicas": 8,
                    "rayStartParams": {"num-gpus": "1"},
                    "template": {"metadata": {"labels": {"ray.io/node-type": "worker"}},
                                 "spec": {"containers": [worker], "volumes": volumes,
                                          "tolerations": [{"key": "nvidia.com/gpu",
                                                           "operator": "Exists",
                                                           "effect": "NoSchedule"}]}},
                }],
            },
        },
    }


async def timed(count: int, body: Callable[[], Awaitable[None]]) -> float:
    """Run ``body`` and return operations per second for ``count`` operations."""
    start = time.perf_counter()
    await body()
    return count / (time.perf_counter() - start)


async def bench_crud(n: int, jobs: list[Obj]) -> list[tuple[str, float, float]]:
    fake = FakeCluster(seed=1)
    fake.register_kind(RAYJOB)
    store: dict[str, bytes] = {}
    names = [j["metadata"]["name"] for j in jobs]
    patch = {"metadata": {"labels": {"step": "2"}}, "spec": {"suspend": True}}
    rows = []

    async def fake_create() -> None:
        for job in jobs:
            await fake.create(RAYJOB, job, namespace=NS)

    async def base_create() -> None:
        for job in jobs:
            raw = orjson.dumps(job)
            store[job["metadata"]["name"]] = raw
            orjson.loads(raw)

    rows.append(("create", await timed(n, fake_create), await timed(n, base_create)))

    async def fake_get() -> None:
        for name in names:
            await fake.get(RAYJOB, name, namespace=NS)

    async def base_get() -> None:
        for name in names:
            orjson.loads(store[name])

    rows.append(("get", await timed(n, fake_get), await timed(n, base_get)))

    async def fake_patch() -> None:
        for name in names:
            await fake.patch(RAYJOB, name, patch, namespace=NS)

    async def base_patch() -> None:
        for name in names:
            raw = orjson.dumps(merge_patch(orjson.loads(store[name]), patch))
            store[name] = raw
            orjson.loads(raw)

    rows.append(("patch (merge)", await timed(n, fake_patch), await timed(n, base_patch)))
    rounds = 3

    async def fake_list() -> None:
        for _ in range(rounds):
            await fake.list(RAYJOB, namespace=NS)

    async def base_list() -> None:
        for _ in range(rounds):
            [orjson.loads(store[k]) for k in sorted(store)]

    rows.append(("list (objects/s)", await timed(n * rounds, fake_list),
                 await timed(n * rounds, base_list)))
    return rows


async def bench_fanout(watchers: int, events: int, jobs: list[Obj]) -> tuple[float, float]:
    fake = FakeCluster(seed=1, watch_buffer=events + 10)
    fake.register_kind(RAYJOB)
    for job in jobs[:events]:
        await fake.create(RAYJOB, job, namespace=NS)
    names = [j["metadata"]["name"] for j in jobs[:events]]
    rv = fake.resource_version

    async def consume() -> None:
        seen = 0
        async for _ in fake.watch(RAYJOB, namespace=NS, resource_version=rv,
                                  allow_bookmarks=False):
            seen += 1
            if seen == events:
                return

    async def fake_run() -> None:
        tasks = [asyncio.create_task(consume()) for _ in range(watchers)]
        await asyncio.sleep(0)
        for i, name in enumerate(names):
            patch = {"spec": {"activeDeadlineSeconds": 10_000 + i}}
            await fake.patch(RAYJOB, name, patch, namespace=NS)
        await asyncio.gather(*tasks)

    queues: list[asyncio.Queue[bytes]] = [asyncio.Queue() for _ in range(watchers)]
    objs = [dict(j) for j in jobs[:events]]

    async def base_consume(queue: asyncio.Queue[bytes]) -> None:
        for _ in range(events):
            orjson.loads(await queue.get())

    async def base_run() -> None:
        tasks = [asyncio.create_task(base_consume(q)) for q in queues]
        for i, obj in enumerate(objs):
            obj["spec"] = {**obj["spec"], "activeDeadlineSeconds": 10_000 + i}
            raw = orjson.dumps(obj)
            for queue in queues:
                queue.put_nowait(raw)
        await asyncio.gather(*tasks)

    total = watchers * events
    return await timed(total, fake_run), await timed(total, base_run)


def row(label: str, fake: float, base: float) -> str:
    return f"{label:<28}{fake:>14,.0f}{base:>16,.0f}{base / fake:>10.1f}x"


async def main(n: int) -> None:
    jobs = [rayjob(i) for i in range(n)]
    size = len(orjson.dumps(jobs[0]))
    print(f"fake cluster benchmark: {n:,} RayJobs of {size:,} bytes of JSON each")
    print(f"{'operation':<28}{'fake /s':>14}{'dict+orjson /s':>16}{'slower':>11}")
    for label, fake, base in await bench_crud(n, jobs):
        print(row(label, fake, base))
    for watchers in (1, 10, 100):
        events = max(1, min(n, 200_000 // watchers))
        fake, base = await bench_fanout(watchers, events, jobs)
        print(row(f"watch fan-out x{watchers} ({events:,} ev)", fake, base))
    print("fan-out rates are events delivered per second, summed over the watchers")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--objects", type=int, default=10_000, help="how many RayJobs")
    asyncio.run(main(parser.parse_args().objects))
