"""A tiny random causal LM, tokenizer and LoRA adapter built in-process for tests.

Nothing here touches the network: the tokenizer is a byte-level BPE with no merges (every byte
is one token, so any text round-trips), the model is a two-layer Llama initialised from a fixed
seed, and the adapter is a PEFT LoRA whose ``B`` matrices are random instead of zero, so that
changing its strength changes the logits. The inference server and the tuning program both load
these directories exactly as they would load a real model from disk.
"""

from __future__ import annotations

import json
from pathlib import Path

CHAT_TEMPLATE = (
    "{% for message in messages %}"
    "<|{{ message['role'] }}|>\n{{ message['content'] }}<|end|>\n"
    "{% endfor %}"
    "{% if add_generation_prompt %}<|assistant|>\n{% endif %}"
)
"""Phi-3-like chat template: role markers are single special tokens."""

SPECIAL_TOKENS = (
    "<unk>",
    "<s>",
    "</s>",
    "<pad>",
    "<|system|>",
    "<|user|>",
    "<|assistant|>",
    "<|end|>",
)

MAX_POSITIONS = 1024
"""Context length of the tiny model (``max_position_embeddings``)."""


def _build_tokenizer(path: Path) -> None:
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    vocab: dict[str, int] = {tok: i for i, tok in enumerate(SPECIAL_TOKENS)}
    for char in sorted(pre_tokenizers.ByteLevel.alphabet()):
        vocab[char] = len(vocab)
    backend = Tokenizer(models.BPE(vocab=vocab, merges=[], unk_token="<unk>"))
    backend.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    backend.decoder = decoders.ByteLevel()
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=backend,
        unk_token="<unk>",
        bos_token="<s>",
        eos_token="</s>",
        pad_token="<pad>",
        additional_special_tokens=list(SPECIAL_TOKENS[4:]),
        model_max_length=MAX_POSITIONS,
    )
    tokenizer.chat_template = CHAT_TEMPLATE
    tokenizer.save_pretrained(str(path))


def build_tiny_model(path: Path) -> Path:
    """Write a random-initialised two-layer Llama and its tokenizer to ``path``; return ``path``.

    Deterministic: the same call always writes the same weights.
    """
    import torch
    from transformers import GenerationConfig, LlamaConfig, LlamaForCausalLM

    path.mkdir(parents=True, exist_ok=True)
    _build_tokenizer(path)
    vocab_size = len(SPECIAL_TOKENS) + 256
    config = LlamaConfig(
        vocab_size=vocab_size,
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=MAX_POSITIONS,
        bos_token_id=1,
        eos_token_id=2,
        pad_token_id=3,
        tie_word_embeddings=False,
    )
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        model = LlamaForCausalLM(config).eval()
    model.generation_config = GenerationConfig(bos_token_id=1, eos_token_id=2, pad_token_id=3)
    model.save_pretrained(str(path))
    return path


def build_tiny_adapter(model_dir: Path, out_dir: Path, seed: int = 0) -> Path:
    """Write a PEFT LoRA adapter for the model in ``model_dir`` to ``out_dir``; return ``out_dir``.

    The LoRA ``B`` matrices are random (``init_lora_weights=False``), so the adapter changes the
    model's output; ``seed`` picks which random adapter.
    """
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    base = AutoModelForCausalLM.from_pretrained(str(model_dir))
    lora = LoraConfig(
        r=4,
        lora_alpha=8,
        target_modules=["q_proj", "k_proj", "v_proj", "o_proj"],
        init_lora_weights=False,
        task_type="CAUSAL_LM",
    )
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        peft_model = get_peft_model(base, lora)
    out_dir.mkdir(parents=True, exist_ok=True)
    peft_model.save_pretrained(str(out_dir))
    # Point at the local base model so nothing ever looks it up on a hub.
    config_path = out_dir / "adapter_config.json"
    adapter_config = json.loads(config_path.read_text())
    adapter_config["base_model_name_or_path"] = str(model_dir)
    config_path.write_text(json.dumps(adapter_config, indent=2, sort_keys=True))
    return out_dir
