"""The real-model lane (`make test-real-llm`): llama.cpp's server with SmolLM2-135M against the project's harness."""
