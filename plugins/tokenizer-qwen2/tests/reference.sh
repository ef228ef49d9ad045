#!/usr/bin/env bash
# Golden test: ids of the C tokenizer == Hugging Face tokenizers' on the corpus of
# tests/reference/tokenizer_corpus.py, for a BPE trained with tokenizers and for the real Qwen2
# vocabulary (from a PyPI package, built at test time), through tokenizer.json and through
# the vocab.json + merges.txt fallback. Usage: reference.sh CHECKER WORK_DIR
set -euo pipefail
checker=$1 work=$2
python=${SPARK_PYTHON:-}
if [ -z "$python" ] || [ ! -x "$python" ]; then
    echo "FAIL: SPARK_PYTHON ($python) is not an executable; run tests/reference/setup-venv.sh" >&2
    exit 1
fi
rm -rf "$work" && mkdir -p "$work"
"$python" "$SPARK_SOURCE_DIR/tests/reference/tokenizer_reference.py" "$work"
cat "$work/SOURCE"
# The reference itself must be the committed one (tokenizers, the package and the corpus
# unchanged); after an intended change run tokenizer_reference.py OUT --update-digest.
if ! (cd "$work" && sha256sum --quiet -c "$SPARK_SOURCE_DIR/tests/reference/tokenizer_reference.sha256"); then
    echo "FAIL: the reference ids differ from tests/reference/tokenizer_reference.sha256" >&2
    exit 1
fi
"$checker" "$work/trained" "$work/trained" "$work/qwen" "$work/qwen" "$work/qwen" "$work/qwen-files"

# The command line on the real vocabulary: ids, --decode, --whole, --prompt.
cli() { printf "$1" | "$SPARKHOST" tokenize --model "$work/qwen" "${@:2}"; }
expect() {
    if [ "$1" != "$2" ]; then echo "FAIL: sparkhost tokenize gave '$1', want '$2'" >&2; exit 1; fi
}
expect "$(cli 'Hello world\n你好，世界\n')" $'[9707,1879]\n[108386,3837,99489]'
expect "$(cli 'Hello\nworld' --whole)" "$("$python" -c "
from tokenizers import Tokenizer
print(Tokenizer.from_file('$work/qwen/tokenizer.json').encode('Hello\nworld').ids)" | tr -d ' ')"
expect "$(cli '[9707,1879,151645]\n' --decode)" '"Hello world<|im_end|>"'
expect "$(cli 'Hi\n' --prompt control --gender male --pitch high --speed low)" \
    '[165143,165146,13048,165152,165147,165033,164968,164987,165153]'
if cli 'a\377b' >/dev/null 2>&1; then echo "FAIL: invalid UTF-8 accepted" >&2; exit 1; fi
echo "sparkhost tokenize: ok"
