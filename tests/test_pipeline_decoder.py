"""`OCR(decoder=...)` and the CLI's --decoder flags build beam/LM decoders against the recognizer's charset."""

import numpy as np
import pytest

from ocrforge import cli
from ocrforge.errors import ConfigError
from ocrforge.pipeline import OCR
from ocrforge.postprocess.beam import BeamSearchDecoder, DecoderOptions
from ocrforge.postprocess.ctc import DecodeResult
from ocrforge.recognition.charset import load_charset


class SpellingRecognizer:
    """Feeds each decoder a posterior that spells 'RM12.50' and returns what the decoder made of it."""

    charset = load_charset()

    def recognize(self, crops, decoder=None):
        cs = self.charset
        seq = []
        for ch in "RM12.50":
            seq += [cs.index[ch], 0]
        probs = np.full((len(seq), cs.num_classes), 1e-6, np.float32)
        probs[np.arange(len(seq)), seq] = 1.0
        probs /= probs.sum(1, keepdims=True)
        out = []
        for _ in crops:
            r = decoder.decode(probs) if decoder is not None else DecodeResult("greedy-default", 1.0)
            out.append(r)
        return out


def crop():
    return np.full((32, 100, 3), 255, np.uint8)


@pytest.mark.parametrize("spec", ["beam", "beam_lm", DecoderOptions(kind="beam_lm")])
def test_named_decoders_are_built_from_the_recognizer_charset(spec):
    ocr = OCR(recognizer=SpellingRecognizer(), decoder=spec)
    assert isinstance(ocr.decoder, BeamSearchDecoder)
    assert ocr.recognize([crop()])[0][0] == "RM12.50"


def test_default_decoder_is_auto_where_the_recognizer_has_a_charset():
    from ocrforge.postprocess.beam import SelectiveLMDecoder
    from ocrforge.postprocess.ctc import GreedyDecoder

    assert isinstance(OCR(recognizer=SpellingRecognizer()).decoder, SelectiveLMDecoder)
    assert isinstance(OCR(recognizer=SpellingRecognizer(), decoder="greedy").decoder, GreedyDecoder)

    class NoCharset:  # a user's own recognizer: its own default decoding, nothing built for it
        def recognize(self, crops, decoder=None):
            assert decoder is None
            return [DecodeResult("own", 0.5) for _ in crops]

    ocr = OCR(recognizer=NoCharset())
    assert ocr.decoder is None and ocr.recognize([crop()]) == [("own", 0.5)]


def test_cli_reads_with_the_auto_decoder_unless_told_otherwise():
    args = cli.build_parser().parse_args(["read", "x.png"])
    assert args.decoder == "auto" and cli._decoder_options(args) == "auto"


def test_amount_pattern_constrains_the_beam():
    ocr = OCR(recognizer=SpellingRecognizer(), decoder=DecoderOptions(kind="beam", pattern="digits"))
    text = ocr.recognize([crop()])[0][0]
    assert text == "" or text.isdigit()  # 'RM12.50' is not all digits: the constraint forbids it


def test_bad_decoder_spec_is_a_config_error():
    ocr = OCR(recognizer=SpellingRecognizer(), decoder=42)
    with pytest.raises(ConfigError):
        ocr.recognize([crop()])


def test_cli_flags_map_to_decoder_options(tmp_path):
    words = tmp_path / "w.txt"
    words.write_text("拿铁\nLATTE\n", encoding="utf-8")
    args = type("A", (), dict(decoder="beam_lm", lm=None, words=str(words), pattern="amount", allow=None, deny=""))
    opts = cli._decoder_options(args)
    assert opts.kind == "beam_lm" and list(opts.words) == ["拿铁", "LATTE"] and opts.pattern == "amount"
    args.decoder, args.pattern, args.words = "greedy", None, None
    assert cli._decoder_options(args) == "greedy"
    args.words = str(tmp_path / "missing.txt")
    args.decoder = "beam_lm"
    with pytest.raises(ConfigError):
        cli._decoder_options(args)


def test_auto_decoder_uses_the_lm_only_on_cjk_or_unsure_lines():
    from types import SimpleNamespace

    from ocrforge.postprocess.beam import SelectiveLMDecoder

    class Fixed:
        def __init__(self, text, confidence):
            self.calls = 0
            self.result = SimpleNamespace(text=text, confidence=confidence)

        def decode(self, probs):
            self.calls += 1
            return self.result

    lm = Fixed("from the LM", 0.9)
    for greedy_text, conf, want in [("TOTAL 12.50", 0.95, "TOTAL 12.50"), ("合计 12.50", 0.99, "from the LM"),
                                    ("T0TAL 12.5O", 0.40, "from the LM")]:
        dec = SelectiveLMDecoder(Fixed(greedy_text, conf), lm, low_confidence=0.8)
        assert dec.decode(np.zeros((4, 3), np.float32)).text == want
    assert lm.calls == 2
    ocr = OCR(recognizer=SpellingRecognizer(), decoder="auto")
    assert isinstance(ocr.decoder, SelectiveLMDecoder)
    assert ocr.recognize([crop()])[0][0] == "RM12.50"
