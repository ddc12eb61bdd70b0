"""yourMoment core: the domain, its store and the clients for myMoment and LLM providers.

Importing this package imports nothing else: the workflow sandbox may import `yourmoment.messages`.
"""
