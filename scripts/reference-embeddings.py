#!/usr/bin/env python3
"""Reference sentence embeddings computed independently of the service (numpy, no deep-learning
framework): a BERT forward pass, mean pooling and normalisation, as sentence-transformers does.

Gives the figures the local embedder's tests compare against. Needs numpy, safetensors and
tokenizers (`pip install numpy safetensors tokenizers`):

    scripts/reference-embeddings.py MODEL_FOLDER "a sentence" ...

POOLING=cls (or max) pools the first token's vector (or the largest value of each dimension)
instead of the mean, as a `1_Pooling/config.json` may ask.
"""
import json, os, sys, numpy as np
from math import erf
from safetensors.numpy import load_file
from tokenizers import Tokenizer
d = sys.argv[1]
w = load_file(d + "/model.safetensors")
cfg = json.load(open(d + "/config.json"))
tok = Tokenizer.from_file(d + "/tokenizer.json"); tok.no_padding(); tok.enable_truncation(256)
H, heads, eps = cfg["hidden_size"], cfg["num_attention_heads"], cfg["layer_norm_eps"]
def W(n): return w[n] if n in w else w["bert."+n]
def ln(x, p): m = x.mean(-1, keepdims=True); v = ((x-m)**2).mean(-1, keepdims=True); return (x-m)/np.sqrt(v+eps)*W(p+".weight")+W(p+".bias")
def lin(x, p): return x @ W(p+".weight").T + W(p+".bias")
verf = np.vectorize(erf)
def gelu(x): return 0.5*x*(1+verf(x/np.sqrt(2)))
def embed(text):
    e = tok.encode(text); ids = np.array(e.ids); n = len(ids)
    x = W("embeddings.word_embeddings.weight")[ids] + W("embeddings.position_embeddings.weight")[:n] + W("embeddings.token_type_embeddings.weight")[np.array(e.type_ids)]
    x = ln(x, "embeddings.LayerNorm")
    dh = H // heads
    for i in range(cfg["num_hidden_layers"]):
        p = f"encoder.layer.{i}."
        q = lin(x, p+"attention.self.query").reshape(n, heads, dh).transpose(1,0,2)
        k = lin(x, p+"attention.self.key").reshape(n, heads, dh).transpose(1,0,2)
        v = lin(x, p+"attention.self.value").reshape(n, heads, dh).transpose(1,0,2)
        s = q @ k.transpose(0,2,1) / np.sqrt(dh); s = np.exp(s - s.max(-1, keepdims=True)); s /= s.sum(-1, keepdims=True)
        a = (s @ v).transpose(1,0,2).reshape(n, H)
        x = ln(lin(a, p+"attention.output.dense") + x, p+"attention.output.LayerNorm")
        h = gelu(lin(x, p+"intermediate.dense"))
        x = ln(lin(h, p+"output.dense") + x, p+"output.LayerNorm")
    pooling = os.environ.get("POOLING", "mean")
    m = x[0] if pooling == "cls" else x.max(0) if pooling == "max" else x.mean(0)
    return m/np.linalg.norm(m)
for t in sys.argv[2:]:
    v = embed(t)
    print(json.dumps({"text": t, "first": [round(float(f), 6) for f in v[:8]], "sum": round(float(v.sum()), 6)}))
