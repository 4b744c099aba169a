#!/usr/bin/python3
"""PyTorch reference timing for an edgecam model file: eval-mode forward, batch 1,
channels_last (torch runs BN as its own op). Prints the best of 5 runs of 5 forwards in wall
time and in this thread's CPU time (the fair 1-thread figure on a shared machine).

usage: nn_bench.py MODEL [THREADS...]"""
import sys
import time

import torch

sys.path.insert(0, __file__.rsplit("/", 1)[0])
from nn_oracle import Graph, read_safetensors  # noqa: E402
import json  # noqa: E402


def main():
    meta, weights = read_safetensors(sys.argv[1])
    arch = json.loads(meta["arch"])
    g = Graph(arch).eval()
    inp = arch["input"]
    x = torch.rand(1, inp.get("c", 3), inp["h"], inp["w"]).to(memory_format=torch.channels_last)
    g = g.to(memory_format=torch.channels_last)
    for t in [int(v) for v in sys.argv[2:]] or [1, 2]:
        torch.set_num_threads(t)
        with torch.no_grad():
            for _ in range(5):
                g(x)
            best, best_cpu = 1e9, 1e9
            for _ in range(5):
                t0, c0 = time.perf_counter(), time.thread_time()
                for _ in range(5):
                    g(x)
                best = min(best, (time.perf_counter() - t0) / 5)
                best_cpu = min(best_cpu, (time.thread_time() - c0) / 5)
        print("torch channels_last %d thread(s): %.2f ms wall, %.2f ms thread cpu"
              % (t, best * 1e3, best_cpu * 1e3))


if __name__ == "__main__":
    main()
