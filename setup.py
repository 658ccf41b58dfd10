from setuptools import find_packages, setup

setup(
    name="dropout_layers",
    version="0.1.0",
    description="Lasagne-style dropout and dense layers on PyTensor, with a Higgs training pipeline",
    long_description=open("README.md", encoding="utf-8").read(),
    long_description_content_type="text/markdown",
    python_requires=">=3.10",
    packages=find_packages(include=["dropout_layers", "dropout_layers.*", "models", "models.*"]),
    install_requires=[
        "pytensor>=3,<4",
        "numpy>=1.24,<3",
        "h5py>=3.8,<4",
        "tqdm>=4.60,<5",
    ],
    extras_require={
        # The test extra brings the optional parts too, so that their tests run rather than skip.
        "test": ["pytest>=7,<10", "matplotlib>=3.6,<4", "ray[tune]>=2.9,<3"],
        "plot": ["matplotlib>=3.6,<4"],
        "ray": ["ray[tune]>=2.9,<3"],
    },
)
