#!/usr/bin/env python3
"""PyTorch peer of echoclip-webgpu: the same two EchoCLIP towers, in PyTorch, on the same machine.

The image tower is timm's `convnext_base` trunk (or, where timm is not importable, a plain-torch
ConvNeXt with the same module and parameter names) plus open_clip's head; the text tower is
open_clip's text transformer built from `torch.nn`. Both load strictly from a safetensors file in
the published open_clip state-dict layout, read here with numpy (the `safetensors` package is not
needed). Architecture: shared/docs/echoclip-reference.md §2.

Modes (one JSON object on stdout; tensors pass through safetensors files):
  probe                                  versions, CUDA device, driver
  features --weights W --config C --inputs IN --out OUT [--device auto|cpu|cuda]
                                         IN holds `pixels` F32 [N,3,S,S] and/or `ids` I32 [N,L];
                                         OUT gets `image_features` / `text_features` (F32,
                                         unnormalised encode_image / encode_text), computed in f32
                                         with TF32 off
  bench --weights W --config C --spec SPEC.json [--device ...]
                                         times the towers per SPEC (batches, budget); every
                                         configuration is checked against the f32 result first;
                                         SPEC.ref_out gets the f32 features of each tower's
                                         smallest batch (inputs as src/bench makes them), which
                                         the caller compares with its own
"""
import argparse
import json
import math
import os
import platform
import statistics
import subprocess
import sys
import time
from collections import OrderedDict

import numpy as np

try:
    import torch
    import torch.nn as nn
    import torch.nn.functional as F
except ImportError as e:  # the TS probe reports this as the reason
    print(json.dumps({"ok": False, "error": f"torch is not importable: {e}"}))
    sys.exit(3)


# ------------------------------------------------------------------ safetensors (numpy)

_NP = {"F32": "<f4", "F16": "<f2", "F64": "<f8", "I32": "<i4", "I64": "<i8", "I16": "<i2", "I8": "i1", "U8": "u1", "BOOL": "?"}


def read_safetensors(path):
    """name -> numpy array (a copy), for F32/F16/BF16 and the integer dtypes."""
    raw = np.memmap(path, dtype=np.uint8, mode="r")
    n = int(np.frombuffer(raw[:8].tobytes(), dtype="<u8")[0])
    header = json.loads(raw[8:8 + n].tobytes().decode("utf-8"))
    start = 8 + n
    out = OrderedDict()
    for name, e in header.items():
        if name == "__metadata__":
            continue
        b, f = e["data_offsets"]
        chunk = raw[start + b:start + f]
        if e["dtype"] == "BF16":
            bits = np.frombuffer(chunk.tobytes(), dtype="<u2").astype(np.uint32) << 16
            arr = bits.view(np.float32)
        elif e["dtype"] in _NP:
            arr = np.frombuffer(chunk.tobytes(), dtype=_NP[e["dtype"]]).copy()
        else:
            raise ValueError(f"{path}: tensor {name}: unsupported dtype {e['dtype']}")
        out[name] = arr.reshape(e["shape"])
    return out


def write_safetensors(path, tensors):
    """Writes F32/I32 arrays; tensors are grouped by element size so every offset is aligned."""
    names = sorted(tensors, key=lambda k: -tensors[k].dtype.itemsize)
    header, offset, blobs = {}, 0, []
    for k in names:
        a = np.ascontiguousarray(tensors[k])
        code = {np.dtype("<f4"): "F32", np.dtype("<i4"): "I32"}[a.dtype.newbyteorder("<")]
        data = a.astype(a.dtype.newbyteorder("<")).tobytes()
        header[k] = {"dtype": code, "shape": list(a.shape), "data_offsets": [offset, offset + len(data)]}
        offset += len(data)
        blobs.append(data)
    text = json.dumps(header).encode()
    text += b" " * ((-len(text)) % 8)
    with open(path, "wb") as fh:
        fh.write(len(text).to_bytes(8, "little"))
        fh.write(text)
        for d in blobs:
            fh.write(d)


# ------------------------------------------------------------------ configuration

def read_config(path):
    with open(path) as fh:
        j = json.load(fh)
    m = j.get("model_cfg", j)
    v, t = m["vision_cfg"], m["text_cfg"]
    kw = v.get("timm_model_kwargs", {})
    base = {"depths": [3, 3, 27, 3], "dims": [128, 256, 512, 1024]} if v["timm_model_name"] == "convnext_base" else None
    if base is None and not ("depths" in kw and "dims" in kw):
        raise ValueError(f"{path}: only convnext_base (optionally with depths/dims kwargs) is built here")
    return {
        "embed_dim": m["embed_dim"],
        "timm_name": v["timm_model_name"],
        "depths": kw.get("depths", base["depths"] if base else None),
        "dims": kw.get("dims", base["dims"] if base else None),
        "timm_kwargs": kw,
        "image_size": v.get("image_size", 224),
        "context_length": t.get("context_length", 77),
        "vocab_size": t.get("vocab_size", 49408),
        "width": t.get("width", 512),
        "heads": t.get("heads", 8),
        "layers": t.get("layers", 12),
        "mlp_ratio": t.get("mlp_ratio", 4),
    }


# ------------------------------------------------------------------ image tower

class LayerNorm2d(nn.LayerNorm):
    """timm LayerNorm2d: LayerNorm over C of an NCHW tensor (permute, norm, permute back)."""

    def forward(self, x):
        x = x.permute(0, 2, 3, 1)
        x = F.layer_norm(x, self.normalized_shape, self.weight, self.bias, self.eps)
        return x.permute(0, 3, 1, 2)


class Mlp(nn.Module):
    def __init__(self, c, hidden):
        super().__init__()
        self.fc1 = nn.Linear(c, hidden)
        self.act = nn.GELU()  # exact erf GELU, as timm's
        self.fc2 = nn.Linear(hidden, c)

    def forward(self, x):
        return self.fc2(self.act(self.fc1(x)))


class ConvNeXtBlock(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.conv_dw = nn.Conv2d(c, c, 7, padding=3, groups=c)
        self.norm = nn.LayerNorm(c, eps=1e-6)
        self.mlp = Mlp(c, 4 * c)
        self.gamma = nn.Parameter(torch.ones(c))

    def forward(self, x):
        shortcut = x
        x = self.conv_dw(x).permute(0, 2, 3, 1)
        x = self.mlp(self.norm(x)).permute(0, 3, 1, 2)
        return x.mul(self.gamma.reshape(1, -1, 1, 1)) + shortcut


class ConvNeXtStage(nn.Module):
    def __init__(self, cin, cout, depth):
        super().__init__()
        self.downsample = nn.Identity() if cin == cout else nn.Sequential(LayerNorm2d(cin, eps=1e-6), nn.Conv2d(cin, cout, 2, stride=2))
        self.blocks = nn.Sequential(*[ConvNeXtBlock(cout) for _ in range(depth)])

    def forward(self, x):
        return self.blocks(self.downsample(x))


class NormHead(nn.Module):
    """timm NormMlpClassifierHead after reset_classifier(0): avg pool -> LayerNorm2d -> flatten."""

    def __init__(self, c):
        super().__init__()
        self.norm = LayerNorm2d(c, eps=1e-6)

    def forward(self, x):
        return self.norm(x.mean((2, 3), keepdim=True)).flatten(1)


class ConvNeXtTrunk(nn.Module):
    """timm ConvNeXt (conv_mlp=False, patch stem) with timm's module and parameter names."""

    def __init__(self, depths, dims):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, dims[0], 4, stride=4), LayerNorm2d(dims[0], eps=1e-6))
        cin, stages = dims[0], []
        for d, c in zip(depths, dims):
            stages.append(ConvNeXtStage(cin, c, d))
            cin = c
        self.stages = nn.Sequential(*stages)
        self.head = NormHead(dims[-1])

    def forward(self, x):
        return self.head(self.stages(self.stem(x)))


def build_trunk(cfg):
    """timm's convnext_base when importable (as open_clip's TimmModel builds it), else ours."""
    try:
        import timm
    except ImportError:
        return ConvNeXtTrunk(cfg["depths"], cfg["dims"]), "torch.nn (timm not importable)"
    trunk = timm.create_model(cfg["timm_name"], pretrained=False, **cfg["timm_kwargs"])
    trunk.reset_classifier(0)  # keeps avg pool + norm; fc -> Identity (open_clip pool='')
    return trunk, f"timm {timm.__version__}"


# ------------------------------------------------------------------ text tower

class ResidualAttentionBlock(nn.Module):
    """open_clip ResidualAttentionBlock: pre-LN MHA (packed in_proj, float causal mask) + MLP."""

    def __init__(self, width, heads, mlp_ratio):
        super().__init__()
        self.ln_1 = nn.LayerNorm(width)
        self.attn = nn.MultiheadAttention(width, heads)
        self.ln_2 = nn.LayerNorm(width)
        hidden = int(width * mlp_ratio)
        self.mlp = nn.Sequential(OrderedDict([("c_fc", nn.Linear(width, hidden)), ("gelu", nn.GELU()), ("c_proj", nn.Linear(hidden, width))]))

    def forward(self, x, attn_mask):
        y = self.ln_1(x)
        x = x + self.attn(y, y, y, need_weights=False, attn_mask=attn_mask.to(y.dtype))[0]
        return x + self.mlp(self.ln_2(x))


class Transformer(nn.Module):
    def __init__(self, width, layers, heads, mlp_ratio):
        super().__init__()
        self.resblocks = nn.ModuleList([ResidualAttentionBlock(width, heads, mlp_ratio) for _ in range(layers)])

    def forward(self, x, attn_mask):
        for r in self.resblocks:
            x = r(x, attn_mask)
        return x


class Visual(nn.Module):
    def __init__(self, trunk, width, embed_dim):
        super().__init__()
        self.trunk = trunk
        self.head = nn.Sequential(OrderedDict([("drop", nn.Dropout(0.0)), ("proj", nn.Linear(width, embed_dim, bias=False))]))

    def forward(self, x):
        return self.head(self.trunk(x))


class Clip(nn.Module):
    """open_clip CLIP (2.20) with a TimmModel image tower: encode_image / encode_text."""

    def __init__(self, cfg):
        super().__init__()
        trunk, self.backend = build_trunk(cfg)
        self.visual = Visual(trunk, cfg["dims"][-1], cfg["embed_dim"])
        L, W = cfg["context_length"], cfg["width"]
        self.transformer = Transformer(W, cfg["layers"], cfg["heads"], cfg["mlp_ratio"])
        self.token_embedding = nn.Embedding(cfg["vocab_size"], W)
        self.positional_embedding = nn.Parameter(torch.empty(L, W))
        self.ln_final = nn.LayerNorm(W)
        self.text_projection = nn.Parameter(torch.empty(W, cfg["embed_dim"]))
        self.logit_scale = nn.Parameter(torch.ones([]))
        mask = torch.empty(L, L).fill_(float("-inf")).triu_(1)
        self.register_buffer("attn_mask", mask, persistent=False)

    def encode_image(self, pixels):
        return self.visual(pixels)

    def encode_text(self, ids):
        x = self.token_embedding(ids) + self.positional_embedding
        x = self.transformer(x.permute(1, 0, 2), self.attn_mask).permute(1, 0, 2)  # open_clip runs LND
        x = self.ln_final(x)
        return x[torch.arange(x.shape[0], device=x.device), ids.argmax(dim=-1)] @ self.text_projection


def load_model(weights, cfg, device):
    model = Clip(cfg)
    sd = {k: torch.from_numpy(np.asarray(v, dtype=np.float32)) for k, v in read_safetensors(weights).items()}
    try:
        model.load_state_dict(sd, strict=True)
    except RuntimeError as e:
        if model.backend.startswith("timm"):
            # A timm whose names differ from 0.9's: fall back to our trunk, and say so.
            failed = f"{model.backend} failed to load strictly ({str(e).splitlines()[0]})"
            model.visual.trunk = ConvNeXtTrunk(cfg["depths"], cfg["dims"])
            model.backend = f"torch.nn ({failed})"
            model.load_state_dict(sd, strict=True)
        else:
            raise
    return model.eval().to(device)


# ------------------------------------------------------------------ inputs (same as src/bench)

def bench_pixels(n, size):
    """src/bench/peers/tower-cases.ts benchPixels: sin(i * 0.001) * 1.5."""
    i = np.arange(n * 3 * size * size, dtype=np.float64)
    return (np.sin(i * 0.001) * 1.5).astype(np.float32).reshape(n, 3, size, size)


def bench_prompts(n, L):
    """src/bench/peers/tower-cases.ts benchPrompts: SOT, 7..46 tokens, EOT, zero padding."""
    ids = np.zeros((n, L), dtype=np.int32)
    for r in range(n):
        length = min(L - 1, 8 + r % 40)
        ids[r, 0] = 49406
        ids[r, 1:length] = 300 + (r * 131 + np.arange(1, length) * 17) % 40000
        ids[r, length] = 49407
    return ids


# ------------------------------------------------------------------ modes

def pick_device(name):
    if name == "cpu" or (name == "auto" and not torch.cuda.is_available()):
        return torch.device("cpu")
    if not torch.cuda.is_available():
        raise RuntimeError("--device cuda asked for, but torch.cuda.is_available() is False")
    return torch.device("cuda")


def strict_f32():
    # Correctness references: IEEE f32 matmuls/convs (no TF32 on Ampere and later).
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False


def nvidia_driver():
    try:
        out = subprocess.run(["nvidia-smi", "--query-gpu=driver_version,name", "--format=csv,noheader"], capture_output=True, text=True, timeout=10)
        return out.stdout.strip().splitlines()[0] if out.returncode == 0 and out.stdout.strip() else None
    except (OSError, subprocess.SubprocessError):
        return None


def probe(_args):
    try:
        import timm
        timm_version = timm.__version__
    except ImportError:
        timm_version = None
    cuda = torch.cuda.is_available()
    info = {
        "ok": True,
        "python": platform.python_version(),
        "torch": torch.__version__,
        "numpy": np.__version__,
        "timm": timm_version,
        "cuda": cuda,
        "cuda_version": torch.version.cuda,
        "device_name": torch.cuda.get_device_name(0) if cuda else platform.processor() or platform.machine(),
        "nvidia_driver": nvidia_driver(),
        "compile": hasattr(torch, "compile"),
        "threads": torch.get_num_threads(),
    }
    print(json.dumps(info))


def features(args):
    strict_f32()
    device = pick_device(args.device)
    cfg = read_config(args.config)
    t0 = time.perf_counter()
    model = load_model(args.weights, cfg, device)
    load_s = time.perf_counter() - t0
    inputs = read_safetensors(args.inputs)
    out = {}
    t0 = time.perf_counter()
    with torch.no_grad():
        if "pixels" in inputs:
            out["image_features"] = model.encode_image(torch.from_numpy(inputs["pixels"].astype(np.float32)).to(device)).float().cpu().numpy()
        if "ids" in inputs:
            out["text_features"] = model.encode_text(torch.from_numpy(inputs["ids"].astype(np.int64)).to(device)).float().cpu().numpy()
    run_s = time.perf_counter() - t0
    write_safetensors(args.out, out)
    print(json.dumps({"ok": True, "device": str(device), "backend": model.backend, "load_s": load_s, "run_s": run_s, "outputs": sorted(out)}))


def rel_err(got, ref):
    """max |got - ref| / max(1, max |ref|) (the harness's rule; NaN -> inf)."""
    d = (got.float() - ref.float()).abs().max().item()
    if math.isnan(d):
        return math.inf
    return d / max(1.0, ref.abs().max().item())


class Timer:
    """CUDA events on a GPU (what the kernels took, launch to end), perf_counter on CPU."""

    def __init__(self, device):
        self.cuda = device.type == "cuda"

    def time(self, fn):
        if self.cuda:
            a, b = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            a.record()
            fn()
            b.record()
            torch.cuda.synchronize()
            return a.elapsed_time(b)
        t = time.perf_counter()
        fn()
        return (time.perf_counter() - t) * 1000


def configurations(device, tower, spec):
    """(variant, precision, channels_last, compile) to time; CPU: f32 eager only (exercises the path)."""
    if device.type != "cuda":
        return [("f32 eager", "f32", False, False)]
    out = []
    for p in ("f32", "f16", "bf16"):
        out.append((f"{'autocast-' if p != 'f32' else ''}{p} eager", p, False, False))
    if tower == "image":
        for p in ("f32", "f16", "bf16"):
            out.append((f"{'autocast-' if p != 'f32' else ''}{p} channels_last", p, True, False))
    if spec.get("compile", True):
        out.append(("autocast-f16 compile", "f16", tower == "image", True))
    return out


def bench(args):
    with open(args.spec) as fh:
        spec = json.load(fh)
    device = pick_device(args.device)
    cfg = read_config(args.config)
    warmup, repeats, case_s = int(spec.get("warmup", 3)), int(spec.get("repeats", 20)), float(spec.get("case_s", 10))
    strict_f32()
    model = load_model(args.weights, cfg, device)
    deadline = time.perf_counter() + float(spec.get("budget_s", 120))  # for the cases, after the load
    timer = Timer(device)
    cases, skipped = [], []
    S, L = cfg["image_size"], cfg["context_length"]
    plan = [("image", n) for n in spec.get("image_batches", [1])] + [("text", n) for n in spec.get("text_batches", [1])]
    if spec.get("interleave", True):
        # Importance order: both towers' first batch, then the next, ... (a cut run keeps pairs).
        rank = {p: [q for q in plan if q[0] == p[0]].index(p) for p in plan}
        plan.sort(key=lambda p: rank[p])
    compiled, refs = {}, {}
    first = {t: min((n for q, n in plan if q == t), default=None) for t in ("image", "text")}
    for tower, n in plan:
        if time.perf_counter() > deadline:
            skipped.append({"what": f"pytorch {tower} tower batch {n}", "why": "time budget spent"})
            continue
        x = torch.from_numpy(bench_pixels(n, S) if tower == "image" else bench_prompts(n, L).astype(np.int64)).to(device)
        encode = model.encode_image if tower == "image" else model.encode_text
        try:
            with torch.no_grad():
                ref = encode(x).float()
        except RuntimeError as e:  # e.g. CUDA out of memory at a large batch
            skipped.append({"what": f"pytorch {tower} tower batch {n}", "why": f"f32 reference failed: {str(e).splitlines()[0][:200]}"})
            if device.type == "cuda":
                torch.cuda.empty_cache()
            continue
        if n == first[tower]:
            refs[f"{tower}_b{n}"] = ref.cpu().numpy()  # the caller checks these against its own result
        for variant, precision, channels_last, use_compile in configurations(device, tower, spec):
            base = {"tower": tower, "batch": n, "variant": variant, "precision": precision, "channels_last": channels_last, "compile": use_compile}
            if time.perf_counter() > deadline:
                skipped.append({"what": f"pytorch {tower} tower batch {n} {variant}", "why": "time budget spent"})
                continue
            try:
                torch.backends.cuda.matmul.allow_tf32 = precision != "f32"
                torch.backends.cudnn.allow_tf32 = precision != "f32"
                fmt = torch.channels_last if channels_last else torch.contiguous_format
                if tower == "image":
                    model.visual.to(memory_format=fmt)
                xi = x.contiguous(memory_format=fmt) if tower == "image" else x
                fn = encode
                if use_compile:
                    if not hasattr(torch, "compile"):
                        raise RuntimeError(f"torch {torch.__version__} has no torch.compile")
                    key = (tower, channels_last)
                    if key not in compiled:
                        compiled[key] = torch.compile(encode)
                    fn = compiled[key]
                dtype = {"f16": torch.float16, "bf16": torch.bfloat16}.get(precision)

                def step():
                    with torch.no_grad(), torch.autocast(device.type, dtype=dtype, enabled=dtype is not None):
                        return fn(xi)

                t0 = time.perf_counter()
                out = step()
                first_ms = (time.perf_counter() - t0) * 1000
                err = rel_err(out, ref)
                for _ in range(warmup):
                    step()
                samples, stop = [], min(deadline, time.perf_counter() + case_s)
                for _ in range(repeats):
                    samples.append(timer.time(step))
                    if time.perf_counter() > stop:
                        break
                med = statistics.median(samples)
                cases.append({**base, "median_ms": med, "min_ms": min(samples), "max_ms": max(samples), "repeats": len(samples), "rel_err": err, "first_call_ms": first_ms, "items_per_s": n * 1000 / med})
            except Exception as e:  # noqa: BLE001 -- every failure is a reported case, never a crash
                cases.append({**base, "error": f"{type(e).__name__}: {str(e).splitlines()[0][:300] if str(e) else ''}"})
                if device.type == "cuda":
                    torch.cuda.empty_cache()
        if tower == "image":
            model.visual.to(memory_format=torch.contiguous_format)
        strict_f32()
        del x, ref
    if spec.get("ref_out") and refs:
        write_safetensors(spec["ref_out"], refs)
    print(json.dumps({"ok": True, "device": str(device), "device_name": torch.cuda.get_device_name(0) if device.type == "cuda" else platform.machine(), "backend": model.backend, "torch": torch.__version__, "cases": cases, "skipped": skipped}))


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="mode", required=True)
    sub.add_parser("probe")
    for name in ("features", "bench"):
        s = sub.add_parser(name)
        s.add_argument("--weights", required=True)
        s.add_argument("--config", required=True)
        s.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
        if name == "features":
            s.add_argument("--inputs", required=True)
            s.add_argument("--out", required=True)
        else:
            s.add_argument("--spec", required=True)
    args = p.parse_args()
    threads = os.environ.get("ECHOCLIP_TORCH_THREADS")
    if threads:
        torch.set_num_threads(int(threads))
    try:
        {"probe": probe, "features": features, "bench": bench}[args.mode](args)
    except Exception as e:  # noqa: BLE001 -- the caller gets one JSON line with the reason
        print(json.dumps({"ok": False, "error": f"{type(e).__name__}: {e}"}))
        sys.exit(2)


if __name__ == "__main__":
    main()
