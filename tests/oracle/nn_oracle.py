#!/usr/bin/python3
"""Reference for src/nn: rebuilds an edgecam model file in PyTorch (Debian's torch 1.13), runs
the same training sequence as tests/unit/test_nn.c and writes every result to a safetensors file.

usage: nn_oracle.py MODEL IO OUT sgd|adam LR MOMENTUM WEIGHT_DECAY

MODEL: edgecam model (safetensors, architecture in __metadata__.arch). IO: tensors "input" and
"dout" (NHWC). Sequence: train-mode forward, loss = sum(out * dout), backward -> "out",
"grad.input", "grad.<param>"; optimiser step; forward/backward again; step -> "param.<name>"
(running statistics included); eval-mode forward -> "eval_out"."""
import json
import struct
import sys

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F


def read_safetensors(path):
    with open(path, "rb") as f:
        raw = f.read()
    (hlen,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8:8 + hlen])
    data = raw[8 + hlen:]
    meta = header.pop("__metadata__", {})
    tensors = {}
    for name, e in header.items():
        assert e["dtype"] == "F32"
        b, en = e["data_offsets"]
        tensors[name] = np.frombuffer(data[b:en], dtype="<f4").reshape(e["shape"]).copy()
    return meta, tensors


def write_safetensors(path, tensors):
    header, off, blobs = {}, 0, []
    for name, arr in tensors.items():
        arr = np.ascontiguousarray(arr, dtype="<f4")
        header[name] = {"dtype": "F32", "shape": list(arr.shape),
                        "data_offsets": [off, off + arr.nbytes]}
        off += arr.nbytes
        blobs.append(arr.tobytes())
    hj = json.dumps(header).encode()
    hj += b" " * ((8 - len(hj) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(hj)) + hj + b"".join(blobs))


class Graph(nn.Module):
    def __init__(self, arch):
        super().__init__()
        self.specs = arch["layers"]
        self.mods = nn.ModuleDict()
        shapes = {"input": arch["input"].get("c", 3)}
        prev = "input"
        self.names, self.inputs = [], []
        for i, s in enumerate(self.specs):
            name = s.get("name", "l%d" % i)
            frm = s.get("from", prev)
            frm = [frm] if isinstance(frm, str) else list(frm)
            cin = shapes[frm[0]]
            t = s["type"]
            cout = cin
            if t in ("conv", "dwconv"):
                k = s["size"]
                cout = s["filters"] if t == "conv" else cin
                self.mods[name] = nn.Conv2d(cin, cout, k, s.get("stride", 1), s.get("pad", k // 2),
                                            groups=1 if t == "conv" else cin,
                                            bias=bool(s.get("bias", 1)))
            elif t == "bn":
                self.mods[name] = nn.BatchNorm2d(cin)
            elif t == "concat":
                cout = sum(shapes[f] for f in frm)
            shapes[name] = cout
            self.names.append(name)
            self.inputs.append(frm)
            prev = name

    def forward(self, x):
        outs = {"input": x}
        for name, frm, s in zip(self.names, self.inputs, self.specs):
            t = s["type"]
            a = outs[frm[0]]
            if t in ("conv", "dwconv", "bn"):
                y = self.mods[name](a)
            elif t == "relu":
                y = F.relu(a)
            elif t == "leaky":
                y = F.leaky_relu(a, s.get("slope", 0.1))
            elif t == "silu":
                y = F.silu(a)
            elif t == "maxpool":
                k = s["size"]
                y = F.max_pool2d(a, k, s.get("stride", k), s.get("pad", 0))
            elif t == "upsample":
                y = F.interpolate(a, scale_factor=2, mode="nearest")
            elif t == "concat":
                y = torch.cat([outs[f] for f in frm], dim=1)
            elif t == "add":
                y = outs[frm[0]]
                for f in frm[1:]:
                    y = y + outs[f]
            else:
                raise ValueError("unknown layer type " + t)
            outs[name] = y
        return y


def nhwc(t):
    return t.detach().permute(0, 2, 3, 1).contiguous().numpy()


def main():
    model_path, io_path, out_path, kind = sys.argv[1:5]
    lr, momentum, wd = (float(v) for v in sys.argv[5:8])
    torch.set_num_threads(1)
    meta, weights = read_safetensors(model_path)
    g = Graph(json.loads(meta["arch"]))
    state = g.state_dict()
    for key in state:
        name = key[len("mods."):]
        if name.endswith("num_batches_tracked"):
            continue
        state[key] = torch.from_numpy(weights[name])
    g.load_state_dict(state)
    _, io = read_safetensors(io_path)
    x = torch.from_numpy(io["input"]).permute(0, 3, 1, 2).contiguous().requires_grad_(True)
    dout = torch.from_numpy(io["dout"]).permute(0, 3, 1, 2)
    params = [p for p in g.parameters()]
    if kind == "sgd":
        opt = torch.optim.SGD(params, lr=lr, momentum=momentum, weight_decay=wd)
    else:
        opt = torch.optim.Adam(params, lr=lr, weight_decay=wd)
    res = {}
    g.train()
    y = g(x)
    (y * dout).sum().backward()
    res["out"] = nhwc(y)
    res["grad.input"] = nhwc(x.grad)
    for key, p in g.named_parameters():
        res["grad." + key[len("mods."):]] = p.grad.numpy().copy()
    opt.step()
    opt.zero_grad()
    (g(x) * dout).sum().backward()
    opt.step()
    for key, v in g.state_dict().items():
        if not key.endswith("num_batches_tracked"):
            res["param." + key[len("mods."):]] = v.numpy().copy()
    g.eval()
    with torch.no_grad():
        res["eval_out"] = nhwc(g(x))
    write_safetensors(out_path, res)


if __name__ == "__main__":
    main()
