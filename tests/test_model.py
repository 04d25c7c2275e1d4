from __future__ import annotations

import pytest
import torch

from orderopt.model import GPT, GPTConfig
from orderopt.engine import make_batch


def small(target_index=False):
    torch.manual_seed(0)
    return GPT(GPTConfig(vocab_size=7, block_size=9, length=4, n_layer=1, n_head=2, n_embd=16, ffn=32,
                         target_index=target_index)).eval()


def test_forward_shapes_and_loss_ignores_minus_one():
    model = small()
    idx = torch.randint(0, 8, (3, 9))
    targets = torch.full((3, 9), -1)
    targets[:, -4:] = torch.randint(0, 7, (3, 4))
    logits, loss = model(idx, targets)
    assert logits.shape == (3, 9, 7)
    manual = torch.nn.functional.cross_entropy(logits[:, -4:].reshape(-1, 7), targets[:, -4:].reshape(-1))
    assert torch.allclose(loss, manual)


def test_causal_mask():
    model = small()
    idx = torch.randint(0, 7, (1, 9))
    changed = idx.clone()
    changed[0, 6] = (changed[0, 6] + 1) % 7
    a, _ = model(idx)
    b, _ = model(changed)
    assert torch.allclose(a[0, :6], b[0, :6])
    assert not torch.allclose(a[0, 6:], b[0, 6:])


def test_make_batch_layout():
    x = torch.tensor([[1, 2, 3, 4, 5]])
    y = torch.tensor([[10, 11, 12, 13]])
    order = torch.tensor([2, 0, 3, 1])
    inp, labels, tidx = make_batch(x, y, order, sep=99)
    assert inp.tolist() == [[1, 2, 3, 4, 5, 99, 12, 10, 13]]
    assert labels.tolist() == [[-1, -1, -1, -1, -1, 12, 10, 13, 11]]
    # the step that predicts y_{o_t} is told o_t; input positions get the "none" index L
    assert tidx.tolist() == [[4, 4, 4, 4, 4, 2, 0, 3, 1]]


def test_target_index_embedding_changes_predictions_and_none_is_zero():
    model = small(target_index=True)
    assert torch.count_nonzero(model.next_index_emb.weight[4]) == 0
    idx = torch.randint(0, 7, (1, 8))
    a, _ = model(idx, target_index=torch.tensor([[4, 4, 4, 4, 2, 0, 3, 1]]))
    b, _ = model(idx, target_index=torch.tensor([[4, 4, 4, 4, 1, 0, 3, 2]]))
    assert torch.allclose(a[0, :4], b[0, :4]) and not torch.allclose(a[0, 4], b[0, 4])
    assert small().next_index_emb is None


def _gradients(model_config: GPTConfig, threads: int, x: torch.Tensor, y: torch.Tensor) -> dict[str, torch.Tensor]:
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        torch.manual_seed(0)
        model = GPT(model_config)
        _, loss = model(*make_batch(x, y, torch.arange(y.shape[1]), model_config.vocab_size))
        loss.backward()
        return {name: p.grad.clone() for name, p in model.named_parameters()}
    finally:
        torch.set_num_threads(before)


def _gemm_sums_depend_on_threads() -> bool:
    """Whether this CPU's matrix product splits a weight-gradient sum (3,072 rows) over threads:
    then no layer's gradient can be thread-invariant (seen on an AVX-512 Xeon; not on an AVX2 EPYC)."""
    before = torch.get_num_threads()
    gen = torch.Generator().manual_seed(0)
    x, grad = torch.randn(3072, 128, generator=gen), torch.randn(3072, 512, generator=gen)
    try:
        products = []
        for threads in (1, 2):
            torch.set_num_threads(threads)
            products.append(x.t() @ grad)
    finally:
        torch.set_num_threads(before)
    return not torch.equal(*products)


@pytest.mark.skipif(_gemm_sums_depend_on_threads(), reason="this CPU's GEMM sums gradients per thread")
def test_gradients_do_not_depend_on_the_thread_count():
    # the cpu preset's final model on prod L=6 batches: 3,072 rows per output-projection sum, where
    # nn.Linear's weight gradient differed between 1 and 2 threads (so parallel verification did
    # not reproduce a 2-thread training)
    config = GPTConfig(vocab_size=10, block_size=12, length=6, n_layer=2, n_head=4, n_embd=128, ffn=512,
                       target_index=True)
    gen = torch.Generator().manual_seed(0)
    x, y = torch.randint(0, 10, (256, 6), generator=gen), torch.randint(0, 10, (256, 6), generator=gen)
    one, two = _gradients(config, 1, x, y), _gradients(config, 2, x, y)
    assert [name for name in one if not torch.equal(one[name], two[name])] == []
