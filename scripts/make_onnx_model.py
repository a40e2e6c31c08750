#!/usr/bin/env python3
"""Make the tiny ONNX language model that the scoring tests load: fixtures/tiny-gpt2-onnx/.

A byte-level BPE tokenizer (GPT-2's kind) trained on the first sentences of the `nlp-corpus`
npm package, a small GPT-2 (GPT2LMHeadModel: 2 layers, width 48, context 64, seeded random init,
then a short training run so its losses are not uniform), saved in the layout transformers.js
and `optimum-cli export onnx` use:

    config.json, tokenizer.json, tokenizer_config.json, onnx/model.onnx

(and onnx/inputs_fp16.onnx, a small graph that takes every input a decoder export may take and
returns float16 logits, for the loader's tests).

The ONNX graph takes input_ids and attention_mask (int64, batch x sequence) and returns logits
(float32, batch x sequence x vocab); it has no past_key_values. Beside it, expected.json holds,
for a few texts, the Python tokenizer's ids and offsets and PyTorch's own per-token loss
(F.cross_entropy of the PyTorch model's logits, reduction="none") over the same strided
windows the scorer uses, so the tests compare xent on ONNX Runtime's logits with PyTorch.

Usage (after `npm ci`, which brings nlp-corpus):
    python3 -m venv /tmp/venv-onnx
    /tmp/venv-onnx/bin/pip install torch numpy transformers tokenizers onnx onnxruntime
    /tmp/venv-onnx/bin/python scripts/make_onnx_model.py
Deterministic: fixed seeds, one thread, fixed corpus slice.
`--bench-gpt2 OUT` instead writes a random model of GPT-2 small's size for bench/lm-score.ts.
"""
import json
import math
import os
import sys

import numpy as np
import torch
import torch.nn.functional as F
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
from transformers import AutoTokenizer, GPT2Config, GPT2LMHeadModel, PreTrainedTokenizerFast

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "fixtures", "tiny-gpt2-onnx")
VOCAB = 1031  # odd on purpose: not a multiple of 4, 8 or 16
CONTEXT = 64
STRIDE = 32
CORPUS_DOCS = 3  # nlp-corpus builds/doc-0.json .. doc-2.json (about 250 kB)
EOS = "<|endoftext|>"


def corpus_lines():
    lines = []
    for i in range(CORPUS_DOCS):
        with open(os.path.join(ROOT, "node_modules", "nlp-corpus", "builds", f"doc-{i}.json"), encoding="utf-8") as f:
            lines += [" ".join(s.split()) for s in json.load(f)]
    return lines


def make_tokenizer(lines):
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    tok.post_processor = processors.ByteLevel(trim_offsets=False)
    trainer = trainers.BpeTrainer(
        vocab_size=VOCAB, special_tokens=[EOS], initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False
    )
    tok.train_from_iterator(lines, trainer=trainer)
    assert tok.get_vocab_size() == VOCAB, tok.get_vocab_size()
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, bos_token=EOS, eos_token=EOS, unk_token=EOS, model_max_length=CONTEXT)
    fast.save_pretrained(OUT)
    # the Python tokenizer of the saved folder, as a user would load it
    return AutoTokenizer.from_pretrained(OUT)


def train(model, ids, steps=300, batch=16):
    g = torch.Generator().manual_seed(1)
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3, weight_decay=0.0)
    data = torch.tensor(ids, dtype=torch.long)
    model.train()
    for step in range(steps):
        starts = torch.randint(0, len(data) - CONTEXT - 1, (batch,), generator=g)
        x = torch.stack([data[s : s + CONTEXT] for s in starts])
        y = torch.stack([data[s + 1 : s + CONTEXT + 1] for s in starts])
        logits = model(input_ids=x).logits
        loss = F.cross_entropy(logits.reshape(-1, VOCAB), y.reshape(-1))
        opt.zero_grad()
        loss.backward()
        opt.step()
        if step % 50 == 0 or step == steps - 1:
            print(f"step {step}: loss {loss.item():.4f}", file=sys.stderr)
    model.eval()


class LogitsOnly(torch.nn.Module):
    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, input_ids, attention_mask):
        return self.model(input_ids=input_ids, attention_mask=attention_mask, use_cache=False).logits


def windows(length, context, stride):
    """The scorer's windows: inputs ids[begin:end-1], targets ids[begin+1:end], scored from `frm` on."""
    out, scored_to, begin = [], 1, 0
    while scored_to < length:
        end = min(begin + context + 1, length)
        if end > scored_to:
            out.append((begin, end, scored_to))
        scored_to = max(scored_to, end)
        begin += stride
    return out


def torch_losses(model, ids):
    losses = [None] * len(ids)
    with torch.no_grad():
        for begin, end, frm in windows(len(ids), CONTEXT, STRIDE):
            x = torch.tensor([ids[begin : end - 1]], dtype=torch.long)
            logits = model(input_ids=x, attention_mask=torch.ones_like(x), use_cache=False).logits[0]
            per = F.cross_entropy(logits.double(), torch.tensor(ids[begin + 1 : end]), reduction="none")
            for pos in range(frm, end):
                losses[pos] = per[pos - begin - 1].item()
    return losses


def main():
    torch.manual_seed(0)
    torch.set_num_threads(1)
    os.makedirs(os.path.join(OUT, "onnx"), exist_ok=True)
    lines = corpus_lines()
    tok = make_tokenizer(lines)
    eos = tok.convert_tokens_to_ids(EOS)

    config = GPT2Config(
        vocab_size=VOCAB, n_positions=CONTEXT, n_embd=48, n_layer=2, n_head=4, n_inner=4 * 48,
        bos_token_id=eos, eos_token_id=eos, resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0,
    )
    config._attn_implementation = "eager"
    model = GPT2LMHeadModel(config)
    ids = []
    for line in lines[:2000]:
        ids += tok(line + "\n")["input_ids"]
    train(model, ids)
    model.config.save_pretrained(OUT)

    onnx_path = os.path.join(OUT, "onnx", "model.onnx")
    example = torch.tensor([tok("The committee met on Tuesday.")["input_ids"]], dtype=torch.long)
    torch.onnx.export(
        LogitsOnly(model), (example, torch.ones_like(example)), onnx_path,
        input_names=["input_ids", "attention_mask"], output_names=["logits"],
        dynamic_axes={"input_ids": {0: "batch", 1: "sequence"}, "attention_mask": {0: "batch", 1: "sequence"}, "logits": {0: "batch", 1: "sequence"}},
        opset_version=17, dynamo=False,
    )

    # the ONNX graph must give PyTorch's logits
    import onnxruntime as ort

    sess = ort.InferenceSession(onnx_path, providers=["CPUExecutionProvider"])
    x = np.array([ids[:CONTEXT]], dtype=np.int64)
    got = sess.run(["logits"], {"input_ids": x, "attention_mask": np.ones_like(x)})[0]
    with torch.no_grad():
        want = model(input_ids=torch.from_numpy(x), use_cache=False).logits.numpy()
    print(f"onnx vs torch logits: max abs diff {np.abs(got - want).max():.3g}", file=sys.stderr)
    assert np.abs(got - want).max() < 1e-4

    make_inputs_model(os.path.join(OUT, "onnx", "inputs_fp16.onnx"), config.n_head, config.n_embd // config.n_head)

    with open(os.path.join(ROOT, "examples", "tiny-gpt", "sample-text.txt"), encoding="utf-8") as f:
        sample = f.read()
    texts = {
        "short": "The committee met on Tuesday and agreed.",
        "sample-text": sample,  # longer than the context: strided windows
        "unicode": "Café, naïve façade — ✓ emoji 🙂 and 中文 split into bytes.\n\tTabs  and  spaces.",
        "unseen": "Zyxwvut QQQQ 1234567890 {\"json\": [1, 2]} <html>",
    }
    cases = []
    for name, text in texts.items():
        enc = tok(text, return_offsets_mapping=True)
        tids = enc["input_ids"]
        assert tok.decode(tids) == text
        byte_offsets = [[len(text[:a].encode("utf-8")), len(text[:b].encode("utf-8"))] for a, b in enc["offset_mapping"]]
        cases.append({"name": name, "text": text, "ids": tids, "byteOffsets": byte_offsets, "losses": torch_losses(model, tids)})
        scored = [l for l in cases[-1]["losses"] if l is not None]
        print(f"{name}: {len(tids)} tokens, mean loss {sum(scored) / len(scored):.4f} (uniform {math.log(VOCAB):.4f})", file=sys.stderr)

    expected = {
        "about": "made by scripts/make_onnx_model.py: the Python tokenizer's ids, its offsets as UTF-8 byte ranges, and PyTorch's per-token loss (nats; null for token 0) over windows of `context` tokens advancing by `stride`",
        "torch": torch.__version__,
        "vocabSize": VOCAB,
        "context": CONTEXT,
        "stride": STRIDE,
        "cases": cases,
    }
    with open(os.path.join(OUT, "expected.json"), "w", encoding="utf-8") as f:
        json.dump(expected, f, ensure_ascii=False, indent=1)
        f.write("\n")
    for name in sorted(os.listdir(OUT)) + ["onnx/model.onnx"]:
        p = os.path.join(OUT, name)
        if os.path.isfile(p):
            print(f"{p}: {os.path.getsize(p)} bytes", file=sys.stderr)


def make_inputs_model(path, heads, head_dim):
    """A graph with every input a decoder export may take (input_ids, attention_mask, position_ids,
    past_key_values.0.key/value in float16, use_cache_branch) and float16 logits: one-hot(input_ids)
    times 3, plus sums over the other inputs that are 0 when the past is empty and the mask all
    ones. It checks how the loader feeds such graphs; the tests know its losses in closed form."""
    import onnx
    from onnx import TensorProto, helper

    f16, i64 = TensorProto.FLOAT16, TensorProto.INT64
    inputs = [
        helper.make_tensor_value_info("input_ids", i64, ["batch", "sequence"]),
        helper.make_tensor_value_info("attention_mask", i64, ["batch", "sequence"]),
        helper.make_tensor_value_info("position_ids", i64, ["batch", "sequence"]),
        helper.make_tensor_value_info("past_key_values.0.key", f16, ["batch", heads, "past", head_dim]),
        helper.make_tensor_value_info("past_key_values.0.value", f16, ["batch", heads, "past", head_dim]),
        helper.make_tensor_value_info("use_cache_branch", TensorProto.BOOL, [1]),
    ]
    consts = [
        helper.make_tensor("depth", i64, [], [VOCAB]),
        helper.make_tensor("onoff", TensorProto.FLOAT, [2], [0.0, 3.0]),
        helper.make_tensor("one", TensorProto.FLOAT, [], [1.0]),
        helper.make_tensor("e0", TensorProto.FLOAT, [VOCAB], [1.0] + [0.0] * (VOCAB - 1)),
    ]
    nodes = [
        helper.make_node("OneHot", ["input_ids", "depth", "onoff"], ["hot"], axis=-1),
        # 0 when the mask is all ones: sum(mask - 1)
        helper.make_node("Cast", ["attention_mask"], ["maskf"], to=TensorProto.FLOAT),
        helper.make_node("Sub", ["maskf", "one"], ["maskoff"]),
        helper.make_node("ReduceSum", ["maskoff"], ["masksum"], keepdims=0),
        # 0 for an empty past
        helper.make_node("Cast", ["past_key_values.0.key"], ["pk"], to=TensorProto.FLOAT),
        helper.make_node("Cast", ["past_key_values.0.value"], ["pv"], to=TensorProto.FLOAT),
        helper.make_node("ReduceSum", ["pk"], ["pks"], keepdims=0),
        helper.make_node("ReduceSum", ["pv"], ["pvs"], keepdims=0),
        helper.make_node("Cast", ["use_cache_branch"], ["ucb"], to=TensorProto.FLOAT),
        # positions 0..n-1: their sum minus n(n-1)/2 is 0 when fed as the loader should
        helper.make_node("Cast", ["position_ids"], ["posf"], to=TensorProto.FLOAT),
        helper.make_node("ReduceSum", ["posf"], ["possum"], keepdims=0),
        helper.make_node("Shape", ["input_ids"], ["shape"]),
        helper.make_node("ReduceProd", ["shape"], ["count"], keepdims=0),
        helper.make_node("Cast", ["count"], ["n"], to=TensorProto.FLOAT),
        helper.make_node("Sub", ["n", "one"], ["n1"]),
        helper.make_node("Mul", ["n", "n1"], ["nn1"]),
        helper.make_node("Constant", [], ["half"], value=helper.make_tensor("h", TensorProto.FLOAT, [], [0.5])),
        helper.make_node("Mul", ["nn1", "half"], ["tri"]),
        helper.make_node("Sub", ["possum", "tri"], ["posoff"]),
        helper.make_node("Sum", ["masksum", "pks", "pvs", "ucb", "posoff"], ["offset"]),
        # added to class 0 only, so that a wrong feed changes the losses (a shift of every class would not)
        helper.make_node("Mul", ["offset", "e0"], ["offset0"]),
        helper.make_node("Add", ["hot", "offset0"], ["logits32"]),
        helper.make_node("Cast", ["logits32"], ["logits"], to=f16),
    ]
    graph = helper.make_graph(nodes, "inputs", inputs, [helper.make_tensor_value_info("logits", f16, ["batch", "sequence", VOCAB])], initializer=consts)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], producer_name="make_onnx_model.py")
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save(model, path)


def bench_gpt2(out):
    """A randomly initialised model of GPT-2 small's size (124M parameters, V=50257, context 1024)
    with the fixture's tokenizer, for timing only (not committed): --bench-gpt2 OUT."""
    torch.manual_seed(0)
    os.makedirs(os.path.join(out, "onnx"), exist_ok=True)
    for name in ["tokenizer.json", "tokenizer_config.json"]:
        with open(os.path.join(OUT, name), "rb") as src, open(os.path.join(out, name), "wb") as dst:
            dst.write(src.read())
    config = GPT2Config()  # GPT-2 small: 12 layers, width 768, 12 heads
    config._attn_implementation = "eager"
    model = GPT2LMHeadModel(config).eval()
    model.config.save_pretrained(out)
    example = torch.tensor([[1, 2, 3, 4, 5, 6, 7]], dtype=torch.long)
    torch.onnx.export(
        LogitsOnly(model), (example, torch.ones_like(example)), os.path.join(out, "onnx", "model.onnx"),
        input_names=["input_ids", "attention_mask"], output_names=["logits"],
        dynamic_axes={"input_ids": {0: "batch", 1: "sequence"}, "attention_mask": {0: "batch", 1: "sequence"}, "logits": {0: "batch", 1: "sequence"}},
        opset_version=17, dynamo=False,
    )


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--bench-gpt2":
        bench_gpt2(sys.argv[2])
    else:
        main()
