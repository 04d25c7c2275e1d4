from pathlib import Path

from setuptools import find_packages, setup

setup(
    name="orderopt",
    version="0.1.0",
    description="Find learning-friendly generation orders for sequential computation (loss profiling + hierarchical search on Optuna)",
    long_description=Path(__file__).with_name("README.md").read_text(encoding="utf-8"),
    long_description_content_type="text/markdown",
    packages=find_packages(include=["orderopt", "orderopt.*"]),
    python_requires=">=3.10",
    install_requires=[
        "numpy>=1.24",
        "scipy>=1.10",
        "torch>=2.2",
        "optuna>=4.0",
        "optuna-dashboard>=0.15",
        "joblib>=1.3",
        "tqdm>=4.60",
        "plotly>=5",
        "matplotlib>=3.6",
    ],
    extras_require={
        "dev": ["pytest>=7", "hypothesis>=6", "psycopg2-binary>=2.9", "cmaes>=0.10"],
    },
    entry_points={"console_scripts": ["orderopt=orderopt.cli:main"]},
)
