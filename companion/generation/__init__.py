"""Reply generation: backends (llama.cpp, transformers, OpenAI-compatible), prompts, planning."""
