"""pytest --nbval-lax notebooks/ runs every notebook in the fast ``ci`` tier.

Kernels started by nbval inherit this process's environment, so setting the variable here is
enough; an explicit ``MINILATTE_TIER=cpu pytest --nbval-lax notebooks/`` still wins.
"""
import os

os.environ.setdefault("MINILATTE_TIER", "ci")
