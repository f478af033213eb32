"""The upload machine: chunked, resumable uploads (`chunked.py`) and the one JSON API that
serves every kind of them (`views.py`); corpora and model imports are its kinds."""
