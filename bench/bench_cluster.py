"""Local vs cluster: the THE TRACE sample built with the default profile (jobs as
threads of one snakemake) and with profiles/cluster-local (every job a separate
`snakemake` process submitted through the cluster-generic executor plugin, in its own
pid namespace where `unshare` is allowed), side by side in one run, on the loopback
API with a fixed latency per request.

Figures: wall time of each, the cluster jobs submitted, and the overhead per cluster
job = (cluster wall - local wall) / cluster jobs: what a job's own process, its parse
of the workflow and the executor's status polling cost, before any queue wait.

    python bench/bench_cluster.py [--latency 0.5]
"""

from __future__ import annotations

import argparse
import re

from common import FakeOpenAI, api_env, machine, snakemake, workflow_copy


def build(profile: str | None, latency: float) -> tuple[float, int, str]:
    wf = workflow_copy()
    args = ["--config", "backend=openai"]
    if profile:
        args += ["--workflow-profile", profile]
    with FakeOpenAI(latency=latency) as server:
        run = snakemake(wf, *args, env=api_env(server))
        requests = server.count()
    submitted = len(re.findall(r"Submitted (?:group )?job \S+ with external jobid", run.text))
    assert "[22/22 · " in run.text, run.text[-2000:]  # every job done (the brief console)
    return run.wall, submitted, f"{requests} paid requests"


def main(argv=None):
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--latency", type=float, default=0.5, help="seconds per API answer")
    args = ap.parse_args(argv)
    print(machine())
    local, _, paid_local = build(None, args.latency)
    cluster, jobs, paid_cluster = build("profiles/cluster-local", args.latency)
    print(f"{'profile':<16} {'wall s':>7} {'cluster jobs':>12}  requests")
    print(f"{'default (local)':<16} {local:>7.1f} {'-':>12}  {paid_local}")
    print(f"{'cluster-local':<16} {cluster:>7.1f} {jobs:>12}  {paid_cluster}")
    if jobs:
        print(f"overhead per cluster job: {(cluster - local) / jobs:.2f} s")
    print(f"ratio cluster/local: {cluster / local:.1f}")


if __name__ == "__main__":
    main()
