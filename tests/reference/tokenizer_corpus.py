"""Deterministic comparison corpus for the Qwen2 tokenizer (tests/reference).

corpus() returns the same list of strings on every run: many scripts, numbers, contractions,
emoji sequences, strings that change under NFC, whitespace runs, punctuation runs, the Spark
control-token strings and a few very long strings. `python tokenizer_corpus.py` prints the
count per category.
"""
import random

SEED = 20261125

WORDS = {
    "english": "the quick brown fox jumps over lazy dog speech synthesis model voice sound "
               "hello world Spark token engine Paris London API GPU CPU don't won't I'm "
               "you're we've they'll she'd it's can't".split(),
    "chinese": "你好 世界 语音 合成 模型 今天 天气 很好 我们 一起 学习 中文 北京 上海 "
               "这是 一个 测试 句子 声音 克隆".split(),
    "japanese": "こんにちは 世界 音声 合成 カタカナ ひらがな 東京 日本語 テスト です "
                "ありがとう ございます ガギグゲゴ パピプペポ ｶﾀｶﾅ".split(),
    "korean": "안녕하세요 세계 음성 합성 모델 한국어 테스트 서울 감사합니다 좋아요".split(),
    "arabic": "مرحبا بالعالم تركيب الكلام نموذج اختبار العربية القاهرة شكرا".split(),
    "hindi": "नमस्ते दुनिया भाषण संश्लेषण मॉडल परीक्षण हिन्दी दिल्ली धन्यवाद क्षत्रिय".split(),
    "cyrillic": "привет мир синтез речи модель тест Москва ЁЛКА йод Їжак".split(),
    "greek": "γειά σου κόσμε σύνθεση φωνής Ελληνικά ΑΘΗΝΑ".split(),
    "thai": "สวัสดี ชาวโลก การสังเคราะห์เสียง ภาษาไทย".split(),
    "hebrew": "שלום עולם סינתזה דיבור".split(),
    "latin_ext": "café naïve façade Ångström straße Œuvre ﬁne Ǆemal résumé Øresund".split(),
}

EMOJI = ["😀", "👍", "👍🏽", "👨‍👩‍👧‍👦", "🏳️‍🌈", "👩🏿‍💻", "❤️", "🇫🇷", "🇯🇵", "🧑🏻‍🤝‍🧑🏿",
         "✋🏼", "1️⃣", "#️⃣", "🤷‍♀️", "🐈‍⬛", "😶‍🌫️"]

# Strings whose NFC differs from the input, plus canonical reordering cases.
NFC_CHANGES = ["e\u0301", "A\u030a", "n\u0303o", "\u1100\u1161\u11a8", "\u212b", "\u2126",
               "o\u0308\u0301", "a\u0323\u0302", "a\u0302\u0323", "\u0041\u0301\u0328",
               "\u1e9b\u0323", "\u0958", "\uf900", "\u30ab\u3099", "\u304b\u3099",
               "\u0627\u0653", "\u0928\u093c", "\u00c5", "\u0301abc", "x\u0345\u0301"]

SPACES = [" ", "  ", "   ", "\t", "\t\t", "\n", "\n\n", "\r\n", "\r\n\r\n", "\r", " \n",
          "\n ", " \t ", "\u00a0", "\u3000", "\u2003", "\u200b", "\u0085", "\u2028", "\x0b",
          "\x0c", "\x1c", " \u00a0 "]

PUNCT = [".", ",", "!", "?", "...", "!!!", "?!", "—", "–", "-", "--", "(", ")", "[]", "{}",
         "\"", "'", "''", "``", "«»", "“”", "。", "，", "！", "？", "、", "《》", "…", "@",
         "#", "$", "%", "^&*", "_", "__init__", "://", "/", "\\", "|", "~", "<", ">", "<|",
         "|>", "¿", "¡", "·", "•", "€", "£", "¥", "©", "®", "™", "°", "±", "§", "¶", "†"]

CONTRACTIONS = ["'s", "'t", "'re", "'ve", "'m", "'ll", "'d", "'S", "'T", "'RE", "'Ve", "'M",
                "'LL", "'lL", "'D", "'x", "'", "''s", "'ſ", "’s", "'1", "'é"]

QWEN_SPECIALS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>", "<|object_ref_start|>",
                 "<|object_ref_end|>", "<|box_start|>", "<|box_end|>", "<|quad_start|>",
                 "<|quad_end|>", "<|vision_start|>", "<|vision_end|>", "<|vision_pad|>",
                 "<|image_pad|>", "<|video_pad|>", "<tool_call>", "</tool_call>",
                 "<|fim_prefix|>", "<|fim_middle|>", "<|fim_suffix|>", "<|fim_pad|>",
                 "<|repo_name|>", "<|file_sep|>"]

STRUCTURE = ["task_vc", "task_tts", "task_asr", "task_s2s", "task_t2s", "task_cap",
             "task_understand", "task_controllable_tts", "task_prompt_tts", "task_edit",
             "start_content", "start_style_label", "start_style_prompt",
             "start_acoustic_token", "start_global_token", "start_semantic_token",
             "end_content", "end_style_label", "end_style_prompt", "end_acoustic_token",
             "end_global_token", "end_semantic_token"]


def spark_tokens():
    """The 13,493 Spark-TTS added tokens in the order of spec section 3.3."""
    families = [("bicodec_global", 4096), ("bicodec_semantic", 8192), ("pitch_value", 1001),
                ("pitch_var_value", 11), ("pitch_label", 5), ("pitch_var_label", 5),
                ("speed_value", 11), ("speed_label", 5), ("loudness_value", 31),
                ("loudness_label", 5), ("age", 5), ("gender", 3), ("emotion", 101)]
    out = [f"<|{name}_{i}|>" for name, count in families for i in range(count)]
    out += [f"<|{name}|>" for name in STRUCTURE]
    assert len(out) == 13493
    return out


# Code point ranges for random strings: ASCII and controls, Latin, combining marks, many
# scripts, whitespace, CJK and compatibility ideographs, emoji, mathematical letters, and
# letters, numbers and marks added in Unicode 10 to 16 (where the reference's regex and NFC
# data differ from utf8proc's).
RANDOM_POOLS = [(0x20, 0x7F), (0x0, 0x20), (0x80, 0x250), (0x300, 0x370), (0x370, 0x530),
                (0x590, 0x700), (0x7C0, 0x8FF), (0x900, 0xE00), (0x1100, 0x1200),
                (0x1680, 0x1690), (0x1AB0, 0x1B00), (0x1DC0, 0x1E00), (0x1E00, 0x2100),
                (0x2000, 0x2070), (0x3000, 0x3100), (0x4E00, 0x4F00), (0xAC00, 0xAC40),
                (0xF900, 0xFB50), (0xFE00, 0xFF00), (0xFF00, 0xFFF0), (0x1F300, 0x1FA00),
                (0x1D400, 0x1D800), (0x10000, 0x10100), (0x1C80, 0x1C90), (0xA7C0, 0xA7E0),
                (0x105C0, 0x10600), (0x10D20, 0x10D90), (0x10F30, 0x10F90), (0x11380, 0x113E0),
                (0x16D40, 0x16D80), (0x1E5D0, 0x1E600), (0xE0000, 0xE0080)]


def _random_text(rng):
    parts = []
    for _ in range(rng.randint(1, 20)):
        if rng.random() < 0.2:
            parts.append(rng.choice(["'s", "'T", "'re", "'LL", "\r\n", " ", "  ", "\n", "ſ",
                                     "\u0301", "\u0338"]))
        else:
            a, b = rng.choice(RANDOM_POOLS)
            c = rng.randrange(a, b)
            parts.append(chr(c if not 0xD800 <= c < 0xE000 else 0x41))
    return "".join(parts)


def _number(rng, digits):
    return "".join(rng.choice("0123456789") for _ in range(digits))


def _sentence(rng, scripts, n):
    words = [rng.choice(WORDS[rng.choice(scripts)]) for _ in range(n)]
    out = []
    for w in words:
        out.append(w)
        r = rng.random()
        if r < 0.15:
            out.append(rng.choice(PUNCT))
        elif r < 0.22:
            out.append(rng.choice(EMOJI))
        out.append(rng.choice(SPACES) if rng.random() < 0.1 else " ")
    return "".join(out)


def corpus():
    rng = random.Random(SEED)
    cats = {}
    scripts = list(WORDS)
    cats["script"] = [_sentence(rng, [s], rng.randint(1, 14)) for s in scripts for _ in range(160)]
    cats["mixed"] = [_sentence(rng, scripts, rng.randint(2, 24)) for _ in range(900)]
    nums = [_number(rng, d) for d in range(1, 41)]
    nums += ["3.14159", "1,000,000", "-42", "+7", "1e10", "0x1F", "2026-11-25", "12:30:45",
             "٣٤٥", "१२३", "①②③", "Ⅻ", "½", "²³", "１２３", "10%", "$5.99", "v1.2.3"]
    cats["numbers"] = nums + [f"{rng.choice(WORDS['english'])}{_number(rng, rng.randint(1, 12))}"
                              f"{rng.choice(['', ' ', 'abc', '.', '号'])}" for _ in range(200)]
    cats["contractions"] = [f"{w}{c}{tail}" for c in CONTRACTIONS
                            for w in ["it", "IT", "we", "", " ", "a"]
                            for tail in ["", " x", "s", "re"]]
    cats["emoji"] = [rng.choice(EMOJI) * rng.randint(1, 3) + rng.choice(["", " ", "ok", "好"])
                     for _ in range(200)] + EMOJI
    cats["nfc"] = [f"{rng.choice(['', 'x', ' ', 'Ab'])}{s}{rng.choice(['', 'y', ' ', '!'])}"
                   for s in NFC_CHANGES for _ in range(6)]
    cats["whitespace"] = ["".join(rng.choice(SPACES + ["a", "b", "世", "1", "!"])
                                  for _ in range(rng.randint(1, 12))) for _ in range(500)]
    cats["whitespace"] += [s + "word" for s in SPACES] + ["word" + s for s in SPACES] + SPACES
    cats["edges"] = [rng.choice(SPACES) + _sentence(rng, scripts, 3) + rng.choice(SPACES)
                     for _ in range(200)]
    cats["punct"] = ["".join(rng.choice(PUNCT) for _ in range(rng.randint(1, 8)))
                     + rng.choice(["", "\n", "\r\n", " a", "\n\n"]) for _ in range(300)]
    specials = QWEN_SPECIALS + spark_tokens()[::97] + [f"<|{s}|>" for s in STRUCTURE]
    cats["control"] = ["".join(rng.choice([rng.choice(specials), _sentence(rng, scripts, 2),
                                           " ", "<|", "|>", "<|bicodec_global_", "<|task_tts"])
                               for _ in range(rng.randint(1, 6))) for _ in range(600)]
    cats["control"] += [f"{a}{b}" for a in QWEN_SPECIALS[:3] for b in specials[:40]]
    cats["random"] = [_random_text(rng) for _ in range(3000)]
    cats["long"] = [
        "ab" * 50_000,
        "".join(rng.choice("abcdefghijklmnopqrstuvwxyzàéü") for _ in range(100_000)),
        "语音合成" * 25_000,
        "1234567890" * 1000,
        " " * 5000 + "x",
        "!" * 20_000,
        _sentence(rng, scripts, 6000),
        ("<|task_tts|>" + _sentence(rng, scripts, 5)) * 200,
    ]
    out = [s for name in cats for s in cats[name]]
    assert len(out) >= 5000, len(out)
    return out, {name: len(v) for name, v in cats.items()}


if __name__ == "__main__":
    strings, counts = corpus()
    for name, count in counts.items():
        print(f"{name:14s}{count}")
    print(f"{'total':14s}{len(strings)}")
