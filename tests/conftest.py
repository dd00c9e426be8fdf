import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
# One torch thread for the whole suite (and the servers it starts): on 2 cores, two spinning threads next to
# the test process's other work made tiny-model generation ~10x slower. Set before torch is imported.
os.environ.setdefault("OMP_NUM_THREADS", "1")
