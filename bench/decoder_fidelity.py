"""How faithful are the decoded pictures? Real and imagined embeddings decoded, against the real frames.

    python bench/decoder_fidelity.py --dataset DIR [--encoder default --predictor default --decoder default --ahead 4]
                                     [--episodes N] [--show FILE.png]

For every frame of the dataset's episodes (use episodes none of the three models trained on):
- `real, decoded`: the real frame's embedding decoded, against that frame (the decoder's own fidelity);
- `imagined k ahead`: the embedding the predictor imagined for frame t from the real embedding of frame t - k and the
  recorded actions in between (open loop, as at planning time), decoded, against the real frame t;
- `nothing moves k`: frame t - k's embedding decoded, against frame t (what imagination must beat to show motion).
PSNR (dB) and SSIM over frames, and a colour-blob cube locator: the cube's colour is read from the episode's first real
frame at the cube's projected true position (colours are randomised per episode), then the blob of that colour is
located in each picture; the table gives the share of frames where it is found and the median distance (px) of its
centroid from the cube's true position projected into the camera. `real frames` runs the same locator on the real
frames: the locator's own floor. `--show` writes one episode's strip (real; decoded; imagined 1..k ahead) as a PNG.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch


def main() -> None:
    import envs  # noqa: F401  (MUJOCO_GL before mujoco loads)
    from vjepa_ac.data.mapping import load_mapping
    from vjepa_ac.data.reader import open_log
    from vjepa_ac.models.decoder import episode_pictures, load_decoder, locate_colour, object_colour, psnr, ssim, to_float
    from vjepa_ac.models.encoder import load_encoder
    from vjepa_ac.environment import EnvConfig, make_env
    from vjepa_ac.models.predictor import load_predictor

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--dataset", required=True)
    ap.add_argument("--encoder", default="default")
    ap.add_argument("--predictor", default="default")
    ap.add_argument("--decoder", default="default")
    ap.add_argument("--mapping", default="panda_sim")
    ap.add_argument("--ahead", type=int, default=4)
    ap.add_argument("--episodes", type=int, default=0, help="the first N episodes (0: all)")
    ap.add_argument("--show", default=None, help="write one episode's picture strip to this PNG")
    ap.add_argument("--show-episode", type=int, default=0)
    ap.add_argument("--threads", type=int, default=0)
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)

    log, m = open_log(args.dataset), load_mapping(args.mapping)
    enc = load_encoder(args.encoder)
    pred, dec = load_predictor(args.predictor), load_decoder(args.decoder, encoder=enc)
    meta_path = Path(args.dataset) / "meta" / "vjepa_ac_collect.json"
    env_cfg = EnvConfig(**json.loads(meta_path.read_text())["env"]) if meta_path.exists() else EnvConfig()
    env = make_env(env_cfg).unwrapped  # only to project the cube's true position into the camera
    n = len(log) if args.episodes <= 0 else min(args.episodes, len(log))
    rows = ["real frames", "real, decoded"] + [f"imagined {k} ahead" for k in range(1, args.ahead + 1)] + [f"nothing moves {k}" for k in range(1, args.ahead + 1)]
    acc = {r: {"psnr": [], "ssim": [], "found": [], "err": []} for r in rows}
    t0 = time.time()
    for e in range(n):
        frames = m.frames(log, e)
        state, action = m.read(log, e)
        cube = log.columns(e, ["observation.environment_state"])["observation.environment_state"][m.rows(log, e), :3]
        uv_true = env.project(cube)  # [T, 2]
        colour = object_colour(frames[0], uv_true[0])
        pics = episode_pictures(frames, state, action, enc, pred, dec, args.ahead)
        real = to_float(frames)
        if dec.cfg.image_size != frames.shape[1]:
            raise ValueError(f"decoder draws {dec.cfg.image_size} px frames, {args.dataset} holds {frames.shape[1]} px")

        def score(row: str, pictures: np.ndarray, t_idx: np.ndarray, pixels: bool = True) -> None:
            if pixels:
                x = to_float(pictures)
                acc[row]["psnr"] += psnr(x, real[t_idx]).tolist()
                acc[row]["ssim"] += ssim(x, real[t_idx]).tolist()
            uv = locate_colour(pictures, colour)
            found = np.isfinite(uv[:, 0])
            acc[row]["found"] += found.tolist()
            acc[row]["err"] += np.linalg.norm(uv[found] - uv_true[t_idx][found], axis=1).tolist()

        t_all = np.arange(len(frames))
        score("real frames", frames, t_all, pixels=False)
        score("real, decoded", pics["decoded"], t_all)
        for k in range(1, args.ahead + 1):
            t_k = t_all[k:]
            score(f"imagined {k} ahead", pics[k][k:], t_k)
            score(f"nothing moves {k}", pics["decoded"][: len(frames) - k], t_k)
        if args.show and e == args.show_episode:
            _show(args.show, pics, args.ahead)
    print(f"{args.dataset}: {n} episodes, {len(acc['real, decoded']['psnr'])} frames; "
          f"encoder {enc.name}, predictor {args.predictor}, decoder {args.decoder}; {time.time() - t0:.0f} s\n")
    print("| pictures | PSNR (dB) | SSIM | cube found | cube error (px, median) |")
    print("|---|---|---|---|---|")
    for r in rows:
        a = acc[r]
        p = f"{np.mean(a['psnr']):.2f}" if a["psnr"] else "-"
        s = f"{np.mean(a['ssim']):.3f}" if a["ssim"] else "-"
        err = f"{np.median(a['err']):.1f}" if a["err"] else "-"
        print(f"| {r} | {p} | {s} | {100 * np.mean(a['found']):.0f} % | {err} |")


def _show(path: str, pics: dict, ahead: int, frames: int = 8) -> None:
    """Rows: real, decoded real, imagined 1..ahead steps ahead; columns: every other frame from `ahead` on."""
    import imageio.v3 as iio

    t = np.arange(ahead, min(len(pics["real"]), ahead + 2 * frames), 2)
    rows = [pics["real"][t], pics["decoded"][t]] + [pics[k][t] for k in range(1, ahead + 1)]
    h, w = rows[0].shape[1:3]
    out = np.full((len(rows) * (h + 2), len(t) * (w + 2), 3), 255, np.uint8)
    for i, r in enumerate(rows):
        for j, im in enumerate(r):
            out[i * (h + 2) : i * (h + 2) + h, j * (w + 2) : j * (w + 2) + w] = im
    iio.imwrite(path, out)
    print(f"strip written to {path}: rows real, decoded, imagined 1..{ahead} ahead; frames {t.tolist()}")


if __name__ == "__main__":
    main()
