"""Order search as Optuna studies: every order tried is a trial in (RDB) storage.

``create_study`` stores the task and settings in the study so that ``load_study`` can join it by
name and storage alone; ``search`` runs (or resumes) the hierarchical global-local search.
"""

from orderopt.studies._search import SearchResult, best_orders, search
from orderopt.studies._spec import StudySpec, read_spec
from orderopt.studies._study import create_study, default_study_name, load_study, probe_of, task_of
from orderopt.studies._verify import VerifyRow, format_verification, read_verification, verify

__all__ = [
    "SearchResult",
    "StudySpec",
    "best_orders",
    "create_study",
    "default_study_name",
    "load_study",
    "probe_of",
    "read_spec",
    "search",
    "task_of",
    "verify",
    "read_verification",
    "VerifyRow",
    "format_verification",
]
