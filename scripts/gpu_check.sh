#!/usr/bin/env bash
# The arbiter on a real NVIDIA card with real CUDA engines, as one run of at most 8 minutes on a machine
# with an NVIDIA GPU, PyTorch for CUDA 13, nvcc, CMake and ninja, and no package registry
# (scripts/gpu_check.py says what it measures). Without a GPU it says so and exits 0.
#
#   scripts/gpu_check.sh --prepare     here, with the package registry: fill gpu-carry/ (about 6 MB)
#   scripts/gpu_check.sh [ARGS]        on the GPU machine, with gpu-carry/ beside the checkout; ARGS go
#                                      to scripts/gpu_check.py (e.g. --turns 100); JSON goes to
#                                      $OUT/gpu_check.json (or bench-results/)
#
# What --prepare puts in gpu-carry/ (ignored by git; it travels with the checkout):
#   llama-cpp-python.tar.gz   the llama-cpp-python source of the version in .venv, trimmed to what a CUDA
#                             build needs: llama.cpp's models/, docs/, tests/, tools/, examples/, the git
#                             pack and every ggml backend but CPU and CUDA removed (217 MB -> 3.6 MB)
#   wheels/                   what the build and the check import beyond the machine's PyTorch image:
#                             scikit-build-core and its deps, llama-cpp-python's pure-Python deps, gguf,
#                             nvidia-ml-py, and PyYAML / MarkupSafe for Python 3.10 to 3.13
#
# On the GPU machine it makes build/gpu-venv (seeing the image's torch and numpy), builds llama.cpp for
# sm_90 (a second run on the same machine reuses it), then runs scripts/gpu_check.py, which writes the
# GGUFs itself (scripts/gguf_random.py): nothing else is downloaded.
#
# Tested here (no GPU): --prepare; the trimmed tree configures with CMake for CUDA sm_90 (144 CUDA units);
# the skip without a GPU; gpu_check.py --tiny, the whole check on tiny models and a simulated card.
# Not tested (no GPU was available): the CUDA build itself (time: expected 3 to 5 min on 16 cores, the
# larger part of the 8 minutes; the turns stop at the time budget and say how many ran), finding cuBLAS and
# libcuda in the image, and every number. Coqui XTTS needs coqui-tts with transformers and librosa, which do
# not fit the carry: its rows run only where the image has them, else they say "skipped" and why. Piper and
# whisper on the CPU need their model packages (100+ MB): the same. faster-whisper on CUDA needs a CTranslate2
# built for CUDA 13, which PyPI does not have: its row says so.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
carry="$root/gpu-carry"
say() { echo "gpu_check: $*" >&2; }

prepare() {
    local py=.venv/bin/python version tmp
    version="$("$py" -c 'import llama_cpp; print(llama_cpp.__version__)')"
    tmp="$(mktemp -d)"
    trap 'rm -rf "$tmp"' RETURN
    rm -rf "$carry" && mkdir -p "$carry/wheels"
    "$py" -m pip download -q --no-deps --no-binary llama-cpp-python -d "$tmp" "llama-cpp-python==$version"
    tar -xzf "$tmp"/llama_cpp_python-*.tar.gz -C "$tmp"
    local src=("$tmp"/llama_cpp_python-*/) && src="${src[0]%/}"
    rm -rf "$src"/{.git,examples,docker,docs,tests}
    local lc="$src/vendor/llama.cpp"
    rm -rf "$lc"/{models,docs,benches,media,tests,examples,scripts,conversion,gguf-py,tools,pocs,app,.devops,.github}
    for b in vulkan sycl metal cann opencl hexagon webgpu openvino et virtgpu musa hip zdnn rpc blas zendnn; do
        rm -rf "$lc/ggml/src/ggml-$b"
    done
    tar -czf "$carry/llama-cpp-python.tar.gz" -C "$tmp" "$(basename "$src")"
    "$py" -m pip download -q --no-deps -d "$carry/wheels" scikit-build-core pathspec packaging typing-extensions \
        diskcache jinja2 gguf nvidia-ml-py tqdm exceptiongroup tomli
    for v in 3.10 3.11 3.12 3.13; do
        "$py" -m pip download -q --no-deps --only-binary :all: --python-version "$v" \
            --platform manylinux2014_x86_64 --platform manylinux_2_17_x86_64 -d "$carry/wheels" pyyaml markupsafe
    done
    say "gpu-carry/: $(du -sh "$carry" | cut -f1), to copy beside the checkout on the GPU machine"
}

if [[ ${1:-} == --prepare ]]; then
    prepare
    exit 0
fi

out="${OUT:-$root/bench-results}"
mkdir -p "$out"
if ! command -v nvidia-smi >/dev/null || ! nvidia-smi -L >/dev/null 2>&1; then
    say "skipped: no NVIDIA GPU here (nvidia-smi finds none)"
    echo '{"skipped": "no NVIDIA GPU (nvidia-smi finds none)"}' >"$out/gpu_check.json"
    exit 0
fi
started=$SECONDS
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader >&2
[[ -f $carry/llama-cpp-python.tar.gz ]] || { say "gpu-carry/ is missing: run scripts/gpu_check.sh --prepare first and carry it"; exit 2; }

venv="$root/build/gpu-venv"
python="${PYTHON:-python3}"
[[ -x $venv/bin/python ]] || "$python" -m venv --system-site-packages "$venv"
pip=("$venv/bin/python" -m pip install -q --no-index --find-links "$carry/wheels" --disable-pip-version-check)
"${pip[@]}" scikit-build-core gguf nvidia-ml-py diskcache jinja2 typing-extensions pyyaml >&2

# cuBLAS and libcuda: from the CUDA toolkit when it has them, else from the pip packages PyTorch brought
# and the driver; CMake wants unversioned names, so link them into build/gpu-shim.
shim="$root/build/gpu-shim" && mkdir -p "$shim"
site="$("$venv/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')"
syssite="$("$python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')"
cuda_root="$(dirname "$(dirname "$(readlink -f "$(command -v nvcc)")")")"
find_lib() {  # the first libNAME.so* under the toolkit, PyTorch's nvidia packages, or the loader's cache
    { find "$cuda_root" "$site/nvidia" "$syssite/nvidia" -name "lib$1.so*" 2>/dev/null
      ldconfig -p | awk -v n="lib$1.so" '$1 ~ "^"n {print $NF}'; } | head -1
}
cmake_args="-DGGML_CUDA=on -DCMAKE_CUDA_ARCHITECTURES=90 -DLLAVA_BUILD=OFF"
for lib in cublas cublasLt cuda; do
    found="$(find_lib "$lib")"
    [[ -n $found ]] || { say "lib$lib.so is nowhere (toolkit, PyTorch's nvidia packages, ldconfig)"; exit 2; }
    ln -sfn "$found" "$shim/lib$lib.so"
    var="$lib" && [[ $lib == cuda ]] && var=cuda_driver
    cmake_args+=" -DCUDA_${var}_LIBRARY=$shim/lib$lib.so"
    export LD_LIBRARY_PATH="$(dirname "$found")${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
done
header="$(find "$cuda_root/include" "$site/nvidia" "$syssite/nvidia" -name cublas_v2.h 2>/dev/null | head -1)"
[[ -n $header ]] && cmake_args+=" -DCMAKE_CUDA_FLAGS=-I$(dirname "$header") -DCMAKE_CXX_FLAGS=-I$(dirname "$header")"

if ! "$venv/bin/python" -c 'import llama_cpp, sys; sys.exit(not llama_cpp.llama_supports_gpu_offload())' 2>/dev/null; then
    export CMAKE_BUILD_PARALLEL_LEVEL="${CMAKE_BUILD_PARALLEL_LEVEL:-$(nproc)}"
    say "building llama.cpp for sm_90 ($CMAKE_BUILD_PARALLEL_LEVEL jobs): $cmake_args"
    src="$root/build/gpu-src" && rm -rf "$src" && mkdir -p "$src"
    tar -xzf "$carry/llama-cpp-python.tar.gz" -C "$src"
    CMAKE_ARGS="$cmake_args" "${pip[@]}" --no-build-isolation --no-deps "$src"/llama_cpp_python-*/ >&2
fi
build_s=$((SECONDS - started))
budget_s=$((470 - build_s)) && ((budget_s >= 60)) || budget_s=60
say "set up in ${build_s} s; ${budget_s} s left for the check"

# What is left of the 8 minutes goes to the check; it stops its turns in time to print the table.
PYTHONPATH="$root" exec "$venv/bin/python" scripts/gpu_check.py --out "$out/gpu_check.json" \
    --budget-s "$budget_s" --work "${TMPDIR:-/tmp}" "$@"
