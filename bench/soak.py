"""Soak: SIGKILL every long-running command at random moments, over and over, and check that nothing is lost.

    python bench/soak.py [--kills 100] [--seed 0] [--work DIR] [--jobs collect,pretrain,train,ddp,fsdp,eval]

For each job it first runs the command once uninterrupted (the reference), then runs it again into a fresh folder,
SIGKILLing the whole process tree (torchrun and every rank for DDP/FSDP) after a random delay and restarting it, until
its share of the kills has landed mid-run; then lets it finish. It prints, per job and in total: kills landed, restarts
(each one a resume), records lost (training steps missing from log.csv, episodes missing from a dataset or results
table), records duplicated, corrupted outputs (a file that does not load back, a temporary file left behind), and
whether the final outputs equal the reference's (weights bit for bit; dataset columns and frames; the results table).
Outside CI (it runs ~15-25 min on two cores); CI keeps tests/test_faults.py.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import random
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

CLI = [sys.executable, "-m", "vjepa_ac.cli"]
TORCHRUN = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2", "-m", "vjepa_ac.cli"]


@dataclass
class Job:
    name: str
    args: list[str]  # after the command runner, without out=
    kind: str  # what the output is: weights, dataset, results
    share: float  # of the kills
    delay: tuple[float, float]  # seconds before a kill
    launcher: list[str] = field(default_factory=lambda: CLI)


def setup(work: Path) -> dict:
    """A small play dataset, a tiny saved encoder and its feature cache, shared by the training jobs."""
    import envs  # noqa: F401
    from transformers import VJEPA2Config, VJEPA2Model

    from vjepa_ac.collect import CollectConfig, EnvConfig, collect
    from vjepa_ac.models.encoder import Preprocess, load_encoder, save_encoder
    from vjepa_ac.training.features import EncodeConfig, encode_dataset

    data = work / "data"
    if not (data / "meta" / "info.json").exists():
        collect(CollectConfig(env=EnvConfig(image_height=64, image_width=64, max_episode_steps=16), episodes=6, seed=7, out=str(data),
                              workers=1, episodes_per_file=2, progress=False))
    enc_dir = work / "encoder"
    if not (enc_dir / "model.safetensors").exists():
        import torch

        torch.manual_seed(0)
        save_encoder(VJEPA2Model(VJEPA2Config(hidden_size=32, num_attention_heads=2, num_hidden_layers=1, crop_size=32, patch_size=8,
                                              tubelet_size=1)), Preprocess(crop_size=32, mode="resize"), enc_dir)
    feats = encode_dataset(EncodeConfig(dataset=str(data), out=str(work / "features"), dtype="float32"), load_encoder(enc_dir))
    return {"data": str(data), "features": str(feats)}


def jobs(paths: dict) -> list[Job]:
    pred = ["predictor.hidden=32", "predictor.depth=2", "predictor.heads=2", "device=cpu", "seed=1", "warmup=2", "val_every=50"]
    train = [f"dataset={paths['data']}", f"features={paths['features']}", "frames=3", "batch_size=4", "checkpoint_every=5", *pred]
    return [
        Job("collect", ["collect", "env=panda_grasp", "policy=play", "episodes=24", "seed=11", "workers=1", "episodes_per_file=2",
                        "env.image_height=64", "env.image_width=64", "env.max_episode_steps=20", "codec=libx264"], "dataset", 0.15, (1.5, 8.0)),
        Job("pretrain", ["pretrain", f"dataset={paths['data']}", "steps=400", "batch_size=4", "frames=2", "stride=2", "warmup=2",
                         "checkpoint_every=5", "device=cpu", "seed=3", "arch.hidden_size=32", "arch.layers=2", "arch.heads=2",
                         "arch.crop_size=64", "arch.pred_hidden_size=16", "arch.pred_layers=1", "arch.pred_heads=2"], "weights", 0.2, (1.5, 9.0)),
        Job("train", ["train", *train, "steps=3000"], "weights", 0.2, (1.5, 9.0)),
        Job("ddp", ["train", *train, "steps=1000"], "weights", 0.15, (3.0, 14.0), TORCHRUN),
        Job("fsdp", ["train", *train, "steps=1000", "fsdp=true"], "weights", 0.15, (3.0, 14.0), TORCHRUN),
        Job("eval", ["eval", "world_model=oracle", "episodes=120", "workers=1", "env.image_height=48", "env.image_width=48", "videos=2",
                     "seed=3"], "results", 0.15, (1.5, 8.0)),
    ]


def run_to_end(job: Job, out: Path) -> None:
    r = subprocess.run(job.launcher + job.args + [f"out={out}"], capture_output=True, text=True, timeout=3600,
                       env={**os.environ, "OMP_NUM_THREADS": "1"})
    if r.returncode:
        raise RuntimeError(f"{job.name} failed:\n{r.stderr[-3000:]}")


def kill_tree(pid: int) -> None:
    """SIGKILL a process, its process group and every descendant at once (torchrun starts each rank in a session of
    its own, so killing the launcher's group alone leaves the ranks running, orphaned)."""
    import psutil

    try:
        procs = [psutil.Process(pid), *psutil.Process(pid).children(recursive=True)]
    except psutil.NoSuchProcess:
        return
    for p in procs:
        try:
            p.send_signal(signal.SIGKILL)
        except psutil.NoSuchProcess:
            pass
    psutil.wait_procs(procs, timeout=10)


def soak(job: Job, out: Path, kills: int, rng: random.Random) -> tuple[int, int]:
    """Kill mid-run until `kills` landed (at most 4x as many tries), then finish. Returns (kills, restarts)."""
    landed = restarts = 0
    for _ in range(4 * kills):
        if landed >= kills:
            break
        p = subprocess.Popen(job.launcher + job.args + [f"out={out}"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                             start_new_session=True, env={**os.environ, "OMP_NUM_THREADS": "1"})
        restarts += 1
        try:
            p.wait(timeout=rng.uniform(*job.delay))
            if p.returncode:
                raise RuntimeError(f"{job.name} exited {p.returncode} without being killed (run it by hand in {out})")
            break  # finished before the kill: nothing left to interrupt
        except subprocess.TimeoutExpired:
            kill_tree(p.pid)
            p.wait()
            landed += 1
    run_to_end(job, out)
    return landed, restarts  # every start after the first is a resume, and the last run to the end is one too


def temp_files(root: Path) -> list[Path]:
    return [p for p in root.rglob(".*") if p.is_file() and ".tmp" in p.name]


def compare(job: Job, ref: Path, out: Path) -> dict:
    """Lost, duplicated and corrupted records, and whether the outputs equal the reference's."""
    res = {"lost": 0, "duplicated": 0, "corrupted": len(temp_files(out)), "equal": False}
    if job.kind == "weights":
        from safetensors.torch import load_file

        a_path, b_path = sorted(ref.rglob("model.safetensors")), sorted(out.rglob("model.safetensors"))
        try:
            a, b = load_file(str(a_path[0])), load_file(str(b_path[0]))
        except Exception:
            res["corrupted"] += 1
            return res
        res["equal"] = a.keys() == b.keys() and all(bool((a[k] == b[k]).all()) for k in a)
        steps = [int(r["step"]) for r in csv.DictReader(open(out / "log.csv"))]
        want = [int(r["step"]) for r in csv.DictReader(open(ref / "log.csv"))]
        res["lost"] = len(set(want) - set(steps))
        res["duplicated"] = len(steps) - len(set(steps))
    elif job.kind == "dataset":
        from vjepa_ac.data.reader import open_log

        try:
            la, lb = open_log(ref), open_log(out)
        except Exception:
            res["corrupted"] += 1
            return res
        ia, ib = [e.index for e in la.episodes], [e.index for e in lb.episodes]
        res["lost"], res["duplicated"] = len(set(ia) - set(ib)), len(ib) - len(set(ib))
        cam = la.camera_keys[0]
        res["equal"] = ia == ib and all(
            all(np.array_equal(la.columns(e, [k])[k], lb.columns(e, [k])[k]) for k in ("observation.state", "action", "index"))
            and np.array_equal(la.frames(e, cam), lb.frames(e, cam)) for e in range(len(la)))
    else:
        rows = lambda p: [{k: v for k, v in r.items() if k != "plan_ms_median"} for r in csv.DictReader(open(p))]  # noqa: E731
        a, b = rows(ref / "episodes.csv"), rows(out / "episodes.csv")
        ea, eb = [r["episode"] for r in a], [r["episode"] for r in b]
        res["lost"], res["duplicated"] = len(set(ea) - set(eb)), len(eb) - len(set(eb))
        strip = lambda s: {k: v for k, v in s.items() if k not in ("planning_ms", "config")}  # noqa: E731
        try:
            ja, jb = (json.loads((p / "results.json").read_text()) for p in (ref, out))
        except Exception:
            res["corrupted"] += 1
            return res
        res["equal"] = a == b and strip(ja) == strip(jb)
    return res


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--kills", type=int, default=100)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--work", default="soak_work")
    ap.add_argument("--jobs", default="collect,pretrain,train,ddp,fsdp,eval")
    args = ap.parse_args()
    os.environ.setdefault("MUJOCO_GL", "egl")
    work = Path(args.work).resolve()
    work.mkdir(parents=True, exist_ok=True)
    rng = random.Random(args.seed)
    paths = setup(work)
    chosen = [j for j in jobs(paths) if j.name in args.jobs.split(",")]
    total_share = sum(j.share for j in chosen)
    print("| job | kills | restarts (resumes) | lost | duplicated | corrupted | equals uninterrupted | seconds |")
    print("|---|---|---|---|---|---|---|---|")
    totals = {"kills": 0, "restarts": 0, "lost": 0, "duplicated": 0, "corrupted": 0, "equal": 0}
    for job in chosen:
        t0 = time.time()
        ref, out = work / f"{job.name}_reference", work / f"{job.name}_soaked_seed{args.seed}"
        if not ref.exists():
            run_to_end(job, ref)
        if out.exists():
            raise SystemExit(f"{out} exists: remove it or pass another --seed")
        landed, restarts = soak(job, out, max(1, round(args.kills * job.share / total_share)), rng)
        r = compare(job, ref, out)
        for k, v in (("kills", landed), ("restarts", restarts), ("lost", r["lost"]), ("duplicated", r["duplicated"]),
                     ("corrupted", r["corrupted"]), ("equal", int(r["equal"]))):
            totals[k] += v
        print(f"| {job.name} | {landed} | {restarts} | {r['lost']} | {r['duplicated']} | {r['corrupted']} | "
              f"{'yes' if r['equal'] else '**no**'} | {time.time() - t0:.0f} |", flush=True)
    print(f"| total | {totals['kills']} | {totals['restarts']} | {totals['lost']} | {totals['duplicated']} | {totals['corrupted']} | "
          f"{totals['equal']} of {len(chosen)} | |")


if __name__ == "__main__":
    main()
