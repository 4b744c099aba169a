#!/usr/bin/python3
"""Independent reference of COCO bbox AP (pycocotools' COCOeval algorithm,
area range 'all', maxDets 100, 101-point interpolation), pure numpy.

Input (JSON file): {"num_classes": C, "frames": [{"gt": [[cls,x1,y1,x2,y2],...],
                    "dt": [[cls,x1,y1,x2,y2,score],...]}, ...]}
Output (stdout): "ap CLS T VALUE" per class and threshold index (VALUE -1: no
ground truth), then "map50 VALUE" and "map VALUE" (mAP@[.5:.95])."""
import json
import sys

import numpy as np

IOU_THRS = np.linspace(.5, 0.95, int(np.round((0.95 - .5) / .05)) + 1, endpoint=True)
REC_THRS = np.linspace(.0, 1.00, int(np.round((1.00 - .0) / .01)) + 1, endpoint=True)
MAX_DETS = 100


def iou_matrix(dt, gt):
    """IoU of every detection with every ground truth box (xyxy, float64)."""
    ious = np.zeros((len(dt), len(gt)))
    for i, d in enumerate(dt):
        for j, g in enumerate(gt):
            iw = min(d[2], g[2]) - max(d[0], g[0])
            ih = min(d[3], g[3]) - max(d[1], g[1])
            if iw <= 0 or ih <= 0:
                continue
            inter = iw * ih
            ua = (d[2] - d[0]) * (d[3] - d[1]) + (g[2] - g[0]) * (g[3] - g[1]) - inter
            ious[i, j] = inter / ua if ua > 0 else 0.0
    return ious


def evaluate_img(dt, gt):
    """Returns (scores, matched[T, D]) for one image and category, or None."""
    if not dt and not gt:
        return None
    order = np.argsort([-d[4] for d in dt], kind='mergesort')
    dt = [dt[i] for i in order[:MAX_DETS]]
    ious = iou_matrix(dt, gt)
    T = len(IOU_THRS)
    gtm = np.zeros((T, len(gt)))
    dtm = np.zeros((T, len(dt)))
    for tind, t in enumerate(IOU_THRS):
        for dind in range(len(dt)):
            iou = min([t, 1 - 1e-10])
            m = -1
            for gind in range(len(gt)):
                if gtm[tind, gind] > 0:
                    continue
                if ious[dind, gind] < iou:
                    continue
                iou = ious[dind, gind]
                m = gind
            if m == -1:
                continue
            dtm[tind, dind] = 1
            gtm[tind, m] = 1
    return np.array([d[4] for d in dt]), dtm


def accumulate(per_img, npig):
    T, R = len(IOU_THRS), len(REC_THRS)
    precision = -np.ones((T, R))
    per_img = [e for e in per_img if e is not None]
    if not per_img or npig == 0:
        return precision
    scores = np.concatenate([e[0] for e in per_img])
    inds = np.argsort(-scores, kind='mergesort')
    dtm = np.concatenate([e[1] for e in per_img], axis=1)[:, inds]
    tps = dtm == 1
    fps = dtm == 0
    tp_sum = np.cumsum(tps, axis=1).astype(dtype=float)
    fp_sum = np.cumsum(fps, axis=1).astype(dtype=float)
    for t, (tp, fp) in enumerate(zip(tp_sum, fp_sum)):
        tp = np.array(tp)
        fp = np.array(fp)
        rc = tp / npig
        pr = (tp / (fp + tp + np.spacing(1))).tolist()
        q = np.zeros((R,))
        for i in range(len(tp) - 1, 0, -1):
            if pr[i] > pr[i - 1]:
                pr[i - 1] = pr[i]
        idx = np.searchsorted(rc, REC_THRS, side='left')
        try:
            for ri, pi in enumerate(idx):
                q[ri] = pr[pi]
        except IndexError:
            pass
        precision[t, :] = q
    return precision


def main():
    with open(sys.argv[1]) as f:
        data = json.load(f)
    C = data["num_classes"]
    frames = data["frames"]
    aps = -np.ones((C, len(IOU_THRS)))
    for c in range(C):
        per_img = []
        npig = 0
        for fr in frames:
            gt = [b[1:5] for b in fr["gt"] if b[0] == c]
            dt = [b[1:6] for b in fr["dt"] if b[0] == c]
            npig += len(gt)
            per_img.append(evaluate_img(dt, gt))
        prec = accumulate(per_img, npig)
        for t in range(len(IOU_THRS)):
            if npig > 0:
                aps[c, t] = np.mean(prec[t])
    for c in range(C):
        for t in range(len(IOU_THRS)):
            print("ap %d %d %.17g" % (c, t, aps[c, t]))
    valid = aps[:, 0] > -1
    print("map50 %.17g" % (np.mean(aps[valid, 0]) if valid.any() else -1))
    print("map %.17g" % (np.mean(aps[valid, :]) if valid.any() else -1))


if __name__ == "__main__":
    main()
