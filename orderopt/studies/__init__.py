"""Order search as Optuna studies: every order tried is a trial in (RDB) storage.

``create_study`` stores the task and settings in the study so that ``load_study`` can join it by
name and storage alone; ``search`` runs (or resumes) the hierarchical global-local search.
"""

from orderopt.studies._search import (DeadRun, SearchResult, best_orders, is_verdict, record_verdict, recover_dead_runs,
                                      running_elsewhere, search, verdict_trial)
from orderopt.studies._spec import StudySpec, read_spec
from orderopt.studies._study import (create_study, default_study_name, discard_if_empty, learnability_of, load_study,
                                     probe_of, study_exists, task_of)
from orderopt.studies._verify import VerifyRow, format_verification, read_verification, verify, verify_config

__all__ = [
    "DeadRun",
    "is_verdict",
    "record_verdict",
    "verdict_trial",
    "recover_dead_runs",
    "running_elsewhere",
    "SearchResult",
    "StudySpec",
    "best_orders",
    "create_study",
    "discard_if_empty",
    "study_exists",
    "default_study_name",
    "learnability_of",
    "load_study",
    "probe_of",
    "read_spec",
    "search",
    "task_of",
    "verify",
    "verify_config",
    "read_verification",
    "VerifyRow",
    "format_verification",
]
