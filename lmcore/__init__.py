"""lmcore: a small, readable language-model library (tokenizer, data, GPT, training, engine).

Pure PyTorch + HF `tokenizers`. It imports nothing from Django, Celery or Channels: the web
application drives it through plain functions, dataclass configs and an `on_event` callback
(a test in tests/lmcore/test_layering.py enforces the direction).
"""

__version__ = "0.1.0"
