from pathlib import Path

from setuptools import find_packages, setup

EXTRAS = {
    "postgres": ["psycopg2-binary>=2.9"],  # postgresql:// storage
    "mysql": ["PyMySQL>=1.0"],  # mysql+pymysql:// storage
    "dashboard": ["optuna-dashboard>=0.15", "plotly>=5"],  # orderopt dashboard, dashboard note and cards
    "plots": ["matplotlib>=3.6"],  # orderopt report --plot
}
EXTRAS["all"] = sorted({req for reqs in EXTRAS.values() for req in reqs})
# dev: the tests (a real browser through Playwright driving the system's Chromium) and the docs site
EXTRAS["dev"] = EXTRAS["all"] + ["pytest>=7", "hypothesis>=6", "scipy>=1.10", "cmaes>=0.10", "playwright>=1.40",
                                 "mkdocs>=1.5", "mkdocs-material>=9", "mkdocstrings[python]>=0.24"]
EXTRAS["bench"] = EXTRAS["dev"] + ["joblib>=1.3", "pymoo>=0.6.1"]  # benchmarks/ (peers and parallel runs)

setup(
    name="orderopt",
    version="0.1.0",
    description="Find learning-friendly generation orders for sequential computation (loss profiling + hierarchical search on Optuna)",
    long_description=Path(__file__).with_name("README.md").read_text(encoding="utf-8"),
    long_description_content_type="text/markdown",
    license="MIT",
    license_files=["LICENSE"],
    author="The orderopt authors",
    keywords=["optuna", "permutation", "transformer", "generation order", "curriculum", "sampler"],
    classifiers=[
        "License :: OSI Approved :: MIT License",
        "Programming Language :: Python :: 3",
        "Intended Audience :: Science/Research",
        "Topic :: Scientific/Engineering :: Artificial Intelligence",
    ],
    packages=find_packages(include=["orderopt", "orderopt.*"]),
    package_data={"orderopt.samplers": ["README.md", "LICENSE", "requirements.txt"]},
    python_requires=">=3.10",
    install_requires=[
        "numpy>=1.24",
        "torch>=2.2",
        "optuna>=4.0",
        "sqlalchemy>=1.4",
        "tqdm>=4.60",
    ],
    extras_require=EXTRAS,
    entry_points={"console_scripts": ["orderopt=orderopt.cli:console"]},
)
