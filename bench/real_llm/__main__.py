"""`python -m bench.real_llm`: the real-model lane (see bench/real_llm/lane.py)."""

import sys

from bench.real_llm.lane import main

sys.exit(main())
