"""Optuna samplers over permutations (optuna + numpy only; no torch).

:func:`suggest_order` turns a permutation into hierarchical Lehmer-digit params that any Optuna
sampler can search; :class:`HierarchicalOrderSampler` searches them with the global-local
schedule. Both serve any objective over permutations (generation orders, QAP, scheduling).
"""

from ._encoding import decode_params, encode_params, layout_sizes, order_param_names, step_params, suggest_order
from ._hierarchical import BatchPlan, HierarchicalOrderSampler, StageStatus
from ._history import ROLE_ATTR, ROUND_ATTR, RUN_ATTR, STAGE_ATTR, VERDICT
from ._precedence import ITEM_SCORES_ATTR, fit_precedence, propose_orders
from ._schedule import SCHEDULE_VERSION, Schedule, ScheduleConfig, Stage, mutate
from ._scores import RAW_ATTR, SCORE_ATTR, anchor_factor, trial_score

__all__ = [
    "BatchPlan",
    "HierarchicalOrderSampler",
    "ITEM_SCORES_ATTR",
    "ROLE_ATTR",
    "ROUND_ATTR",
    "RUN_ATTR",
    "STAGE_ATTR",
    "VERDICT",
    "RAW_ATTR",
    "SCHEDULE_VERSION",
    "SCORE_ATTR",
    "Schedule",
    "ScheduleConfig",
    "Stage",
    "StageStatus",
    "anchor_factor",
    "decode_params",
    "encode_params",
    "fit_precedence",
    "layout_sizes",
    "mutate",
    "order_param_names",
    "propose_orders",
    "step_params",
    "suggest_order",
    "trial_score",
]
