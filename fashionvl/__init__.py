"""fashionvl: fashion vision-language models (MVLT, mFSR, M2Fashion) for Hugging Face transformers.

Importing the package registers every model with the transformers Auto classes and the
``fashion-retrieval`` pipeline task.
"""

__version__ = "0.1.0"

# Each block below is owned by one part of the package; keep the markers so blocks stay separate.

# >>> MVLT
# <<< MVLT

# >>> processing
# <<< processing

# >>> training
# <<< training

# >>> mFSR
# <<< mFSR

# >>> M2Fashion
# <<< M2Fashion

# >>> pipelines
# <<< pipelines
