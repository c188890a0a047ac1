"""Render one planning step of a Rerun recording to a PNG, from the logged data alone (no viewer needed).

    python bench/render_recording.py RECORDING.rrd --step 3 --out step.png

Titled panels: camera at the step, goal image, real and imagined PCA embeddings of the next frame, and a top-down
(x-y) view of the candidate end-effector paths coloured by energy (blue low, red high), the elites (cyan), the chosen
plan (green), the path taken so far (white), the object (yellow) and the goal (green dot). When the recording was made
with a decoder (`eval ... decoder=`), also the real next frame, the imagined next frame decoded, and the elites'
imagined end frames decoded.
"""

from __future__ import annotations

import argparse

import numpy as np
from rerun.chunk import RrdReader


def rows(path: str) -> dict[str, list[tuple[int, dict]]]:
    """entity -> [(step, {column: value})] from every chunk of the recording."""
    out: dict[str, list] = {}
    for c in RrdReader(path).stream():
        rb = c.to_record_batch()
        steps = rb.column("step").to_pylist() if "step" in rb.schema.names else [None] * rb.num_rows
        cols = {n: rb.column(n).to_pylist() for n in rb.schema.names if ":" in n}
        for i, s in enumerate(steps):
            out.setdefault(c.entity_path, []).append((s, {k: v[i] for k, v in cols.items()}))
    return out


def at(entity_rows, step):
    for s, r in entity_rows:
        if s == step or s is None:
            return r
    return None


def image(r) -> np.ndarray:
    buf = np.frombuffer(bytes(np.asarray(r["Image:buffer"][0], dtype=np.uint8)), np.uint8)
    fmt = r["Image:format"][0]
    return buf.reshape(fmt["height"], fmt["width"], -1)[..., :3]


def draw_line(canvas, p, q, colour, to_px):
    a, b = to_px(p), to_px(q)
    for t in np.linspace(0, 1, 60):
        x, y = (a + (b - a) * t).astype(int)
        if 0 <= x < canvas.shape[1] and 0 <= y < canvas.shape[0]:
            canvas[max(0, y - 1): y + 1, max(0, x - 1): x + 1] = colour


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("recording")
    ap.add_argument("--step", type=int, default=2)
    ap.add_argument("--out", default="planning_step.png")
    args = ap.parse_args()
    r = rows(args.recording)
    size = 192
    panels = []
    for ent in ("/camera", "/goal", "/pca/real", "/pca/imagined"):
        step = args.step + 1 if ent.startswith("/pca") else args.step
        row = at(r.get(ent, []), step)
        img = image(row) if row else np.zeros((size, size, 3), np.uint8)
        yy = np.arange(size) * img.shape[0] // size  # nearest-neighbour resize to the panel size
        xx = np.arange(size) * img.shape[1] // size
        panels.append(img[yy][:, xx])
    canvas = np.full((size * 2, size * 2, 3), 30, np.uint8)
    cand = at(r["/world/plan/candidates"], args.step)
    strips = [np.asarray(s) for s in cand["LineStrips3D:strips"]]
    colours = [np.asarray(c, dtype=np.uint32) for c in cand["LineStrips3D:colors"]]
    centre = np.asarray(strips[0][0][:2])
    to_px = lambda p: np.array([size + (p[1] - centre[1]) / 0.3 * size, size - (p[0] - centre[0]) / 0.3 * size])  # noqa: E731
    for s, c in zip(strips, colours):
        rgba = int(c)
        draw_line(canvas, s[0], s[-1], [(rgba >> 24) & 255, (rgba >> 16) & 255, (rgba >> 8) & 255], to_px)
    for ent, colour in (("/world/plan/elites", [0, 220, 255]), ("/world/plan/chosen", [0, 255, 0])):
        for s in at(r[ent], args.step)["LineStrips3D:strips"]:
            s = np.asarray(s)
            draw_line(canvas, s[0], s[-1], colour, to_px)
    path = at(r.get("/world/ee_path", []), args.step)
    if path:
        s = np.asarray(path["LineStrips3D:strips"][0])
        for p, q in zip(s[:-1], s[1:]):
            draw_line(canvas, p, q, [255, 255, 255], to_px)
    for ent, colour in (("/world/object", [255, 200, 0]), ("/world/goal", [0, 200, 0])):
        row = at(r.get(ent, []), args.step)
        if row:
            x, y = to_px(np.asarray(row["Points3D:positions"][0])).astype(int)
            if 0 <= x < canvas.shape[1] and 0 <= y < canvas.shape[0]:
                canvas[max(0, y - 4): y + 4, max(0, x - 4): x + 4] = colour
    tiles = [("camera at this step", panels[0]), ("current (sub-)goal image", panels[1]),
             ("real next frame's tokens (PCA)", panels[2]), ("imagined next frame's tokens (PCA)", panels[3]),
             ("candidates from above: energy blue (low) to red;\nelites cyan, chosen green, path white, cube yellow", canvas)]
    if "/decoded/imagined" in r:
        for title, ent, step in (("real next frame", "/camera", args.step + 1), ("imagined next frame, decoded", "/decoded/imagined", args.step + 1),
                                 ("elites' imagined end frames, decoded", "/decoded/elites", args.step)):
            row = at(r.get(ent, []), step)
            if row:
                tiles.append((title, image(row)))
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cols = 4
    n_rows = (len(tiles) + cols - 1) // cols
    fig, axes = plt.subplots(n_rows, cols, figsize=(3.6 * cols, 3.7 * n_rows), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for ax, (title, img) in zip(axes.flat, tiles):
        ax.imshow(img)
        ax.set_title(title, fontsize=8)
    fig.suptitle(f"{args.recording}: planning step {args.step}", fontsize=9)
    fig.tight_layout()
    fig.savefig(args.out, dpi=100)
    energies = [v["Scalars:scalars"][0] for s, v in r["/energy/plan"] if s is not None]
    print(f"{args.out}: step {args.step}, {len(strips)} candidates; chosen-plan energy per step: {np.round(energies, 4).tolist()}")


if __name__ == "__main__":
    main()
