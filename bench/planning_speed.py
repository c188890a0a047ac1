"""Planning speed: milliseconds per planned action, predicted steps per second and achieved FLOP/s vs the device's peak,
and the same plan with a straightforward rollout (no cache, one sample at a time) for the ratio.

    python bench/planning_speed.py                       # the shipped default size, the agent's CPU settings
    python bench/planning_speed.py --size official --samples 800 --iterations 10 --horizon 1 --dtype bfloat16  # GPU
    python bench/planning_speed.py --size official --samples 8 --iterations 1   # a CPU throughput point
    python bench/planning_speed.py --official-src ~/vjepa2 --samples 400 --iterations 10 --horizon 2   # side by side

Predictor weights are random (speed does not depend on them); z0 and the goal are random embeddings.

`--official-src DIR`: a checkout of facebookresearch/vjepa2 (scipy needed; without timm, its `drop_path` is stood in for
by the identity it is at inference, since installing timm pulls torchvision and a CUDA torch). Its
`src/models/ac_predictor.py` predictor and its notebook's CEM (`notebooks/utils/world_model_wrapper.py`,
`WorldModel.infer_next_action`, which calls `notebooks/utils/mpc_utils.py`) plan the same step with the same settings
and the same random weights (ours written by `export_predictor` in the release layout, loaded with
`load_state_dict(strict=True)`); both times, their ratio and the largest difference between the two predictors' outputs
on a shared batch are printed. In bf16 the official model runs as its training does, float32 weights under autocast.
Nothing of the official code is copied here: it is imported from the user's checkout.
"""

from __future__ import annotations

import argparse
import time

import torch

from planners import CEMConfig, cem
from vjepa_ac.device import pick_device
from vjepa_ac.planning.energy import EnergyConfig, latent_energy
from vjepa_ac.models.flops import plan_flops, rollout_flops
from vjepa_ac.models.predictor import ACPredictor, PredictorConfig

SIZES = {"default": PredictorConfig(hidden=192, depth=4, heads=6), "official": PredictorConfig.official()}


def sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize()


def peak_flops(device, dtype) -> float:
    """Measured matmul FLOP/s of the device in a dtype (a large square product)."""
    n = 8192 if device.type == "cuda" else 2048
    a = torch.randn(n, n, device=device, dtype=dtype)
    b = torch.randn(n, n, device=device, dtype=dtype)
    a @ b
    sync(device)
    best = float("inf")
    for _ in range(5):  # the best of five: other load on the machine only ever slows a run down
        t = time.perf_counter()
        for _ in range(10 if device.type == "cuda" else 2):
            a @ b
        sync(device)
        best = min(best, (time.perf_counter() - t) / (10 if device.type == "cuda" else 2))
    return 2 * n**3 / best


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", choices=list(SIZES), default="default")
    ap.add_argument("--samples", type=int, default=32)
    ap.add_argument("--iterations", type=int, default=3)
    ap.add_argument("--horizon", type=int, default=1)
    ap.add_argument("--dtype", choices=["float32", "bfloat16"], default="float32")
    ap.add_argument("--device", default="auto")
    ap.add_argument("--compile", action="store_true", help="torch.compile the rollout")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--naive-samples", type=int, default=4, help="samples timed one at a time for the naive rollout")
    ap.add_argument("--peak-tflops", type=float, default=None, help="the device's peak (else measured by a matmul)")
    ap.add_argument("--official-src", default=None, help="a facebookresearch/vjepa2 checkout: time its planning beside ours")
    ap.add_argument("--threads", type=int, default=0)
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.official_src:
        return side_by_side(args)
    torch.set_grad_enabled(False)
    device = pick_device(args.device)
    dtype = getattr(torch, args.dtype)
    cfg = SIZES[args.size]
    torch.manual_seed(0)
    model = ACPredictor(cfg).to(device, dtype).eval()
    params = sum(p.numel() for p in model.parameters())
    z0 = torch.randn(cfg.tokens, cfg.embed_dim, device=device, dtype=dtype)
    goal = torch.randn(cfg.tokens, cfg.embed_dim, device=device)
    s0 = torch.zeros(cfg.state_dim, device=device, dtype=dtype)
    energy = EnergyConfig()

    def rollout(actions):  # [S, H, A] -> [S, H, N, D]
        s = actions.shape[0]
        return model.rollout(z0[None].expand(s, -1, -1), s0[None].expand(s, -1), actions.to(dtype))

    roll = torch.compile(rollout, dynamic=False) if args.compile else rollout
    cost = lambda a: latent_energy(roll(a).float(), goal, energy)  # noqa: E731
    pcfg = CEMConfig(samples=args.samples, iterations=args.iterations, elites=max(1, args.samples // 8))
    lo, hi = -torch.ones(cfg.action_dim), torch.ones(cfg.action_dim)
    gen = torch.Generator(device).manual_seed(0)

    def plan():
        cem(cost, args.horizon, lo, hi, cfg=pcfg, generator=gen, device=device)
        sync(device)

    t0 = time.perf_counter()
    plan()  # warm-up (and compilation)
    warm = time.perf_counter() - t0
    t = time.perf_counter()
    for _ in range(args.repeats):
        plan()
    per_action = (time.perf_counter() - t) / args.repeats

    flops = plan_flops(cfg, args.samples, args.iterations, args.horizon)
    peak = args.peak_tflops * 1e12 if args.peak_tflops else peak_flops(device, dtype)
    steps = args.samples * args.iterations * args.horizon
    name = torch.cuda.get_device_name() if device.type == "cuda" else "cpu"
    print(f"device {name}, {torch.get_num_threads()} threads, {args.dtype}{', compiled' if args.compile else ''}")
    print(f"predictor {args.size}: {params / 1e6:.1f} M parameters, {cfg.tokens} patch tokens, width {cfg.hidden}, depth {cfg.depth}")
    print(f"CEM: {args.samples} samples x {args.iterations} iterations, horizon {args.horizon}: {flops / 1e12:.3f} TFLOP per action")
    print(f"ms per planned action     {per_action * 1000:10.1f}   (first call {warm:.2f} s)")
    print(f"predicted steps per s     {steps / per_action:10.1f}")
    print(f"achieved TFLOP/s          {flops / per_action / 1e12:10.3f}   = {100 * flops / per_action / peak:.1f} % of {peak / 1e12:.2f} TFLOP/s {'(given)' if args.peak_tflops else '(measured matmul peak)'}")

    # the straightforward rollout: every sample alone, the whole past recomputed at every step
    k = min(args.naive_samples, args.samples)
    acts = (torch.rand(k, args.horizon, cfg.action_dim, device=device) * 2 - 1).to(dtype)
    model.rollout(z0[None], s0[None], acts[:1], use_cache=False)
    sync(device)
    t = time.perf_counter()
    for i in range(k):
        model.rollout(z0[None], s0[None], acts[i : i + 1], use_cache=False)
    sync(device)
    naive = (time.perf_counter() - t) / k * args.samples * args.iterations
    naive_flops = args.samples * args.iterations * rollout_flops(cfg, args.horizon, cached=False)
    print(f"straightforward rollout   {naive * 1000:10.1f} ms per action (timed on {k} samples, scaled to {args.samples} x {args.iterations}; {naive_flops / 1e12:.3f} TFLOP)")
    print(f"speed-up                  {naive / per_action:10.2f} x")


def side_by_side(args) -> None:
    """The official notebook's planning and ours, same weights and settings, timed in one process."""
    import sys

    import torch.nn.functional as F

    from vjepa_ac.planning.energy import EnergyConfig
    from vjepa_ac.models.predictor import export_predictor

    sys.path.insert(0, str(args.official_src))
    try:
        import timm  # noqa: F401  (the official modules import its drop_path)
    except ImportError:  # timm drags in torchvision (and a CUDA torch); planning runs in eval mode, where drop_path is x
        import types

        def drop_path(x, drop_prob: float = 0.0, training: bool = False):
            if training and drop_prob > 0:
                raise RuntimeError("drop_path shim: only inference is benchmarked")
            return x

        shim = types.ModuleType("timm.models.layers")
        shim.drop_path = drop_path
        for name in ("timm", "timm.models"):
            sys.modules.setdefault(name, types.ModuleType(name))
        sys.modules["timm.models.layers"] = shim
    from notebooks.utils.world_model_wrapper import WorldModel  # noqa: E402  (the user's checkout)
    from src.models.ac_predictor import vit_ac_predictor  # noqa: E402

    torch.set_grad_enabled(False)
    device = pick_device(args.device)
    dtype = getattr(torch, args.dtype)
    cfg = SIZES[args.size]
    torch.manual_seed(0)
    ours = ACPredictor(cfg).eval()
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:  # the same weights through the release layout
        path = export_predictor(ours, f"{tmp}/predictor.pt")
        state = {k.removeprefix("module."): v for k, v in torch.load(path, weights_only=True)["predictor"].items()}
    official = vit_ac_predictor(img_size=(cfg.grid * 16, cfg.grid * 16), patch_size=16, num_frames=2 * (args.horizon + 1), tubelet_size=2,
                                embed_dim=cfg.embed_dim, predictor_embed_dim=cfg.hidden, depth=cfg.depth, num_heads=cfg.heads,
                                action_embed_dim=cfg.action_dim, use_rope=True, is_frame_causal=True, use_sdpa=True)
    official.load_state_dict(state, strict=True)
    # the official code runs reduced precision as its training does, float32 weights under autocast: cast whole to
    # bfloat16, its RoPE returns float32 queries and keys beside bfloat16 values, which attention refuses
    ours, official = ours.to(device, dtype), official.to(device).eval()
    mixed = torch.autocast(device.type, dtype=dtype, enabled=dtype != torch.float32)

    # the predictors agree: one teacher-forced batch through both
    b, t = 4, args.horizon + 1
    z = F.layer_norm(torch.randn(b, t, cfg.tokens, cfg.embed_dim, device=device), (cfg.embed_dim,)).to(dtype)
    st, act = torch.randn(b, t, cfg.state_dim, device=device, dtype=dtype), torch.randn(b, t, cfg.action_dim, device=device, dtype=dtype)
    a = ours(z, st, act).float()
    with mixed:
        o = official(z.flatten(1, 2).float(), act.float(), st.float()).float().view(b, t, cfg.tokens, cfg.embed_dim)
    diff = float((a - F.layer_norm(o, (cfg.embed_dim,))).abs().max())

    z0 = F.layer_norm(torch.randn(1, 1, cfg.tokens, cfg.embed_dim, device=device), (cfg.embed_dim,)).to(dtype)
    goal = F.layer_norm(torch.randn(1, 1, cfg.tokens, cfg.embed_dim, device=device), (cfg.embed_dim,)).to(dtype)
    pose = torch.zeros(1, 1, cfg.state_dim, device=device, dtype=dtype)
    topk = max(1, args.samples // 8)
    wm = WorldModel(encoder=None, predictor=official, tokens_per_frame=cfg.tokens, transform=None, device=device,
                    mpc_args={"rollout": args.horizon, "samples": args.samples, "topk": topk, "cem_steps": args.iterations,
                              "momentum_mean": 0.15, "momentum_std": 0.15, "maxnorm": 0.05, "verbose": False})

    def official_plan():
        with mixed:
            wm.infer_next_action(z0.float(), pose.float(), goal.float())
        sync(device)

    energy = EnergyConfig()
    lo, hi = -torch.ones(cfg.action_dim), torch.ones(cfg.action_dim)
    pcfg = CEMConfig(samples=args.samples, iterations=args.iterations, elites=topk)
    gen = torch.Generator(device).manual_seed(0)

    def cost(actions):  # [S, H, A] -> [S]
        s = actions.shape[0]
        zh = ours.rollout(z0[0, 0][None].expand(s, -1, -1), pose[0, 0][None].expand(s, -1), actions.to(dtype))
        return latent_energy(zh.float(), goal[0, 0].float(), energy)

    def our_plan():
        cem(cost, args.horizon, lo, hi, cfg=pcfg, generator=gen, device=device)
        sync(device)

    times = {}
    for name, fn in (("official", official_plan), ("vjepa-ac", our_plan)):
        fn()  # warm-up
        best = float("inf")
        for _ in range(args.repeats):
            t0 = time.perf_counter()
            fn()
            best = min(best, time.perf_counter() - t0)
        times[name] = best
    dev = torch.cuda.get_device_name() if device.type == "cuda" else f"cpu ({torch.get_num_threads()} threads)"
    print(f"device {dev}, {args.dtype}; predictor {args.size} ({cfg.tokens} tokens, width {cfg.hidden}, depth {cfg.depth}); "
          f"CEM {args.samples} x {args.iterations}, horizon {args.horizon}, top {topk}; best of {args.repeats}")
    print(f"largest |difference| of the two predictors' outputs on a shared batch: {diff:.2e}")
    print("| samples x iterations x horizon | official | vjepa-ac | ratio |")
    print(f"| {args.samples} x {args.iterations} x {args.horizon} | {times['official'] * 1000:.0f} ms | {times['vjepa-ac'] * 1000:.0f} ms | "
          f"{times['official'] / times['vjepa-ac']:.2f}x |")


if __name__ == "__main__":
    main()
