"""Comment generation: prompt templates, the LLM client and the checks on what the model wrote.

Importing this package imports nothing else (the workflow sandbox must not pull in `openai`);
import the submodules `templates`, `system_templates`, `comments` and `client` directly.
"""
