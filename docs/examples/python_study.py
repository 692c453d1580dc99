#!/usr/bin/env python3
"""A small sparse-scaling study from Python, to copy into a notebook: submit a sweep, watch it,
fit the law, ask for the loss-optimal sparsity, and plot the curves (matplotlib when present).

Needs a coordinator with at least one worker (`sparsescale up` or your cluster), the Python
client on the path (PYTHONPATH=build/client/python after building) and token shards
(`sparsescale prepare --input data/corpus/web.txt --out data/shards`).

    PYTHONPATH=build/client/python python3 docs/examples/python_study.py \
        --coordinator 127.0.0.1:7070 --shards data/shards
"""

import argparse

from sparsescale import Client, SparsescaleError

STATES = {3: "SUCCEEDED", 4: "FAILED", 5: "CANCELLED"}


def study(shards, quick):
    """The sweep's base job and axes: tiny models trained for a few hundred steps on CPU
    (quick: a few seconds in all, for checking the script)."""
    layers, heads, context, batch = (1, 2, 32, 4) if quick else (2, 4, 64, 8)
    steps = 16 if quick else 256
    base = {
        "model": {"layers": layers, "width": 32, "heads": heads, "context": context},
        "data": {"trainShards": [f"{shards}/train_*.bin"],
                 "evalShards": [f"{shards}/val_000000.bin"], "batchSize": batch,
                 "tokens": str(steps * batch * context)},
        "optim": {"lr": 3e-3},
        "device": "cpu",
    }
    # 2 model sizes x 3 sparsities x 2 token budgets = 12 jobs (the axes set width and tokens).
    axes = {"nonzeros": ["3072", "6144"] if quick else ["24576", "49152"],
            "sparsities": [0.0, 0.5, 0.75],
            "tokens": [str(steps * batch * context), str(2 * steps * batch * context)]}
    return base, axes


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--coordinator", default=None, help="HOST:PORT (default: "
                        "$SPARSESCALE_COORDINATOR or 127.0.0.1:7070)")
    parser.add_argument("--shards", default="data/shards")
    parser.add_argument("--token", default=None, help="bearer token, when the server asks")
    parser.add_argument("--quick", action="store_true", help="tiny jobs (seconds in all)")
    args = parser.parse_args()
    client = Client(args.coordinator, token=args.token)

    # 1. A sweep of 12 jobs.
    base, axes = study(args.shards, args.quick)
    created = client.create_sweep(base, axes, name="python example")
    sweep = created.sweep
    print(f"sweep {sweep.id}: {created.jobs_created} new jobs, {created.jobs_existing} existing")

    # 2. Watch every job to its end (each watch returns when its job is final).
    for job_id in sweep.job_ids:
        last = None
        for event in client.watch(job_id):
            last = event.job
        print(f"  {job_id[:12]}  {STATES.get(last.state, last.state)}  "
              f"eval loss {last.last_eval_loss:.4f}")

    # 3. Fit the sparse scaling law on the finished jobs, then ask for the optimal sparsity.
    try:
        fit = client.fit_law(sweep_id=sweep.id)
        print(f"fit {fit.fit_id}: rmse {fit.rmse:.4f} over {fit.runs} runs")
        nonzeros = float(axes["nonzeros"][-1])
        best = client.optimal_sparsity(nonzeros=nonzeros, compute=1e13, fit_id=fit.fit_id)
        print(f"optimal sparsity at N={nonzeros:g}, C=1e13: {best.sparsity:.3f} "
              f"(loss {best.loss:.4f})")
    except SparsescaleError as e:  # e.code is the grpc.StatusCode, e.message says why
        print(f"no fit: {e.code.name}: {e.message}")

    # 4. Curves: a pandas DataFrame when pandas is installed, else a dict of lists.
    curves = {job_id: client.curve(job_id, max_points=200, as_frame=False)
              for job_id in sweep.job_ids}
    client.export(sweep.id, out="python_study.csv")  # same CSV as `sparsescale export`
    try:
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib not installed; wrote python_study.csv and python_study.summary.csv")
        return
    for job_id, curve in curves.items():
        plt.plot(curve["tokens"], curve["train_loss"], label=job_id[:8])
    plt.xscale("log")
    plt.xlabel("tokens")
    plt.ylabel("train loss (nats/token)")
    plt.legend(fontsize="small")
    plt.savefig("python_study.png", dpi=120)
    print("wrote python_study.png, python_study.csv and python_study.summary.csv")


if __name__ == "__main__":
    main()
