#!/usr/bin/env python3
"""Reference dumps for the Qwen2 LLM (plugins/llm-qwen2, core/nn/src/llm).

Loads the `tiny` synthetic model (`sparkhost model synth --preset tiny --seed 0`) with
transformers' Qwen2ForCausalLM in float32 and writes, under OUT (default tests/llm/reference):

  llm_reference.json  prompts, greedy tokens, near-tie counts, filter cases and their sets
  prefill_logits.npy  float32 [prompts, vocab]: logits of each prompt's last position
  greedy_logits.npy   float32 [64, vocab]: logits of 64 greedy steps after the first prompt
  filter_logits.npy   float32 [cases, 3000]: logit vectors for the sampling filters

The filter sets are those that survive TemperatureLogitsWarper, TopKLogitsWarper and
TopPLogitsWarper applied in that order, as transformers' sampling does.

Regenerate (one command, from the repository root, after building sparkhost):
  .venv/bin/python tests/reference/llm_reference.py --sparkhost build/bin/sparkhost
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile

import numpy as np
import torch
import transformers
from transformers import Qwen2ForCausalLM
from transformers.generation.logits_process import (TemperatureLogitsWarper,
                                                    TopKLogitsWarper, TopPLogitsWarper)

SEED = 0
GREEDY_STEPS = 64
NEAR_TIE = 1e-5
FILTER_WIDTH = 3000


def synth(sparkhost, work):
    model_dir = os.path.join(work, "tiny")
    subprocess.run([sparkhost, "model", "synth", "--preset", "tiny", "--seed", str(SEED),
                    model_dir], check=True, stdout=subprocess.DEVNULL)
    return model_dir


def prompts_for(llm_dir, vocab):
    added = json.load(open(os.path.join(llm_dir, "added_tokens.json")))
    rng = np.random.default_rng(1234)
    text = [int(x) for x in rng.integers(0, 900, 12)]
    control = ([added["<|task_controllable_tts|>"], added["<|start_content|>"]] + text +
               [added["<|end_content|>"], added["<|start_style_label|>"],
                added["<|gender_0|>"], added["<|pitch_label_2|>"],
                added["<|speed_label_2|>"], added["<|end_style_label|>"]])
    return {
        "control": control,
        "random_40": [int(x) for x in rng.integers(0, vocab, 40)],
        "single": [int(rng.integers(0, vocab))],
        "long_400": [int(x) for x in rng.integers(0, vocab, 400)],
    }


def last_logits(model, ids):
    with torch.no_grad():
        out = model(torch.tensor([ids], dtype=torch.long))
    return out.logits[0, -1].float().numpy()


def apply_warpers(v, t, k, p):
    scores = torch.from_numpy(v.copy())[None, :]
    scores = TemperatureLogitsWarper(t)(None, scores)
    if k > 0:
        scores = TopKLogitsWarper(k)(None, scores)
    after_k = torch.isfinite(scores[0]).numpy()
    if p < 1.0:
        scores = TopPLogitsWarper(p)(None, scores)
    return after_k, torch.isfinite(scores[0]).numpy()


def filter_cases():
    """Random vectors; every fourth has coarse values, so that many ids tie at the k-th
    value (which top-k keeps, all of them). Ties across the top-p cut are resolved by the
    order of torch.sort among equal values, which is unspecified: such draws are replaced."""
    rng = np.random.default_rng(99)
    params = [(0.8, 50, 0.95), (1.0, 10, 0.9), (0.5, 100, 0.5), (1.3, 0, 0.9),
              (0.8, 50, 1.0), (2.0, 5, 0.99), (0.7, 1, 0.95), (1.0, 3000, 0.3)]
    cases, vectors = [], []
    for i in range(24):
        scale = [1.0, 3.0, 8.0][i % 3]
        t, k, p = params[i % len(params)]
        if i % 4 == 3:  # ties at the k-th value, which top-k keeps; top-p off
            t, k, p = [(0.8, 50, 1.0), (1.0, 20, 1.0), (0.6, 8, 1.0)][(i // 4) % 3]
        for _ in range(1000):
            v = rng.normal(0.0, scale, FILTER_WIDTH).astype(np.float32)
            if i % 4 == 3:
                v = (np.round(v * 2) / 2).astype(np.float32)
            after_k, kept = apply_warpers(v, t, k, p)
            cut = after_k & ~kept
            if not cut.any() or v[cut].max() < v[kept].min():
                break
        else:
            raise RuntimeError(f"filter case {i}: no vector without a tie at the top-p cut")
        ties_at_k = k > 0 and int(after_k.sum()) > k
        cases.append({"temperature": t, "top_k": k, "top_p": p, "ties_at_top_k": ties_at_k,
                      "kept": np.nonzero(kept)[0].tolist()})
        vectors.append(v)
    return cases, np.stack(vectors)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sparkhost", required=True, help="the built sparkhost program")
    ap.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "..", "llm",
                                                  "reference"))
    args = ap.parse_args()
    torch.manual_seed(0)
    os.makedirs(args.out, exist_ok=True)
    with tempfile.TemporaryDirectory() as work:
        llm_dir = os.path.join(synth(args.sparkhost, work), "LLM")
        model = Qwen2ForCausalLM.from_pretrained(llm_dir, dtype=torch.float32,
                                                 attn_implementation="eager")
        model.eval()
        vocab = model.config.vocab_size
        prompts = prompts_for(llm_dir, vocab)
        prefill = np.stack([last_logits(model, ids) for ids in prompts.values()])

        ids = list(prompts["control"])
        tokens, steps, near_ties = [], [], []
        for step in range(GREEDY_STEPS):
            logits = last_logits(model, ids)
            top2 = np.sort(logits)[-2:]
            if top2[1] - top2[0] < NEAR_TIE:
                near_ties.append(step)
            nxt = int(np.argmax(logits))
            tokens.append(nxt)
            steps.append(logits)
            ids.append(nxt)
        cases, vectors = filter_cases()

    np.save(os.path.join(args.out, "prefill_logits.npy"), prefill.astype(np.float32))
    np.save(os.path.join(args.out, "greedy_logits.npy"), np.stack(steps).astype(np.float32))
    np.save(os.path.join(args.out, "filter_logits.npy"), vectors.astype(np.float32))
    doc = {
        "source": f"transformers {transformers.__version__}, torch {torch.__version__}, "
                  f"Qwen2ForCausalLM float32 eager, sparkhost model synth --preset tiny "
                  f"--seed {SEED}",
        "synth_seed": SEED,
        "prompt_names": list(prompts.keys()),
        "prompts": list(prompts.values()),
        "greedy_prompt": "control",
        "greedy_tokens": tokens,
        "greedy_near_tie_steps": near_ties,
        "near_tie": NEAR_TIE,
        "filter_cases": cases,
    }
    with open(os.path.join(args.out, "llm_reference.json"), "w") as f:
        json.dump(doc, f, indent=1)
        f.write("\n")
    print(f"wrote {args.out}: {len(prompts)} prompts, {GREEDY_STEPS} greedy steps "
          f"({len(near_ties)} near ties), {len(cases)} filter cases")


if __name__ == "__main__":
    sys.exit(main())
