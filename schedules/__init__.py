"""The math of lrhub: schedule specs, pure evaluation, plateau state, safe expressions.

No HTTP, no database, no TensorFlow: pydantic and the standard library only.
"""
