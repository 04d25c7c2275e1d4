from __future__ import annotations

import os

import pytest
import torch

torch.set_num_threads(min(2, os.cpu_count() or 1))


@pytest.fixture
def tiny():
    from orderopt.presets import get_preset

    return get_preset("tiny")
